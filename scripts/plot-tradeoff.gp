# Quality against compute for generation settings (dlm eval generation --plot).
#
#   gnuplot -e "data='gen.dat'; out='gen.png'; term='pngcairo'; titles='remask lowconf'; \
#               ylabel='generative perplexity'; logy=1; reference=41.2" scripts/plot-tradeoff.gp
#
# data: one block per curve (separated by two blank lines), in the order of `titles`;
#   columns: forward passes per sample, seconds per sample, quality, steps, threshold.
# reference (optional): the quality of the held-out text, drawn as a dashed line.
# logy (optional): logarithmic quality axis (perplexities).

if (!exists("data")) data = 'gen.dat'
if (!exists("out")) out = 'gen.png'
if (!exists("term")) term = 'pngcairo'
if (!exists("name")) name = ''
if (!exists("titles")) titles = 'samples'
if (!exists("ylabel")) ylabel = 'quality'

if (term eq 'svg') {
    set terminal svg size 1200,520 dynamic enhanced font 'Sans,12' background '#ffffff'
} else {
    set terminal pngcairo size 1200,520 enhanced font 'Sans,11'
}
set output out

n = words(titles)
array colors[7] = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf']
set multiplot layout 1,2 title (name eq '' ? 'Generation quality and cost' : 'Generation quality and cost: '.name) noenhanced
set grid
set logscale x
if (exists("logy")) { set logscale y }
set ylabel ylabel
set key top right noenhanced

set xlabel 'forward passes per sample'
if (exists("reference")) {
    plot reference title 'held-out text' with lines dt 2 lw 2 lc rgb '#555555', \
         for [i=1:n] data index (i-1) using 1:3 title word(titles, i) with linespoints pt 7 ps 1.1 lw 2 lc rgb colors[(i-1)%7+1]
} else {
    plot for [i=1:n] data index (i-1) using 1:3 title word(titles, i) with linespoints pt 7 ps 1.1 lw 2 lc rgb colors[(i-1)%7+1]
}

set xlabel 'seconds per sample'
if (exists("reference")) {
    plot reference title 'held-out text' with lines dt 2 lw 2 lc rgb '#555555', \
         for [i=1:n] data index (i-1) using 2:3 title word(titles, i) with linespoints pt 7 ps 1.1 lw 2 lc rgb colors[(i-1)%7+1]
} else {
    plot for [i=1:n] data index (i-1) using 2:3 title word(titles, i) with linespoints pt 7 ps 1.1 lw 2 lc rgb colors[(i-1)%7+1]
}
unset multiplot
