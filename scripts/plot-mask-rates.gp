# Masked cross-entropy and accuracy per mask rate (dlm eval likelihood --plot).
#
#   gnuplot -e "data='rates.dat'; out='rates.png'; term='pngcairo'; bound=3.21; name='my model'" \
#       scripts/plot-mask-rates.gp
#
# data: columns rate, cross-entropy (nats per masked token), accuracy, masked tokens.
# bound (optional): the NELBO bound in nats per token, drawn as a dashed line.
# term: pngcairo or svg.

if (!exists("data")) data = 'rates.dat'
if (!exists("out")) out = 'rates.png'
if (!exists("term")) term = 'pngcairo'
if (!exists("name")) name = ''

if (term eq 'svg') {
    set terminal svg size 900,520 dynamic enhanced font 'Sans,12' background '#ffffff'
} else {
    set terminal pngcairo size 900,520 enhanced font 'Sans,11'
}
set output out

set title (name eq '' ? 'Masked cross-entropy per mask rate' : 'Masked cross-entropy per mask rate: '.name) noenhanced
set xlabel 'mask rate'
set ylabel 'cross-entropy (nats per masked token)'
set y2label 'accuracy'
set xrange [0:1.05]
set xtics 0.1
set y2range [0:*]
set y2tics
set ytics nomirror
set grid xtics ytics
set key below center horizontal samplen 3 spacing 1 maxcols 3
set bmargin 6

ce_style = "with linespoints pt 7 ps 1.2 lw 2 lc rgb '#1f77b4'"
acc_style = "with linespoints pt 5 ps 1.0 lw 2 lc rgb '#d62728'"
if (exists("bound")) {
    plot bound title sprintf('NELBO bound %.3f', bound) with lines dt 2 lw 2 lc rgb '#555555', \
         data using 1:2 title 'cross-entropy' @ce_style, \
         data using 1:3 axes x1y2 title 'accuracy' @acc_style
} else {
    plot data using 1:2 title 'cross-entropy' @ce_style, \
         data using 1:3 axes x1y2 title 'accuracy' @acc_style
}
