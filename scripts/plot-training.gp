# Training curves of runs compared at equal compute (scripts/recipe/results.sh).
#
#   gnuplot -e "files='a.dat b.dat'; titles='diffusion AR'; out='curves.png'; term='pngcairo'" \
#       scripts/plot-training.gp
#
# Each data file: columns total training FLOPs, step, training loss, held-out loss
# (NaN where not evaluated), as scripts/recipe/train-log-dat.sh writes them.

if (!exists("out")) out = 'curves.png'
if (!exists("term")) term = 'pngcairo'
if (!exists("name")) name = 'Training curves'

if (term eq 'svg') {
    set terminal svg size 900,520 dynamic enhanced font 'Sans,12' background '#ffffff'
} else {
    set terminal pngcairo size 900,520 enhanced font 'Sans,11'
}
set output out
set title name noenhanced
set xlabel 'training compute (FLOPs)'
set ylabel 'loss (nats per token; diffusion: at the masked tokens)'
set format x '%.1te%T'
set grid
set key top right noenhanced
set datafile missing 'NaN'
array colors[4] = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd']
n = words(files)
plot for [i=1:n] word(files, i) using 1:3 title word(titles, i).' (train)' with lines lw 1 lc rgb colors[i], \
     for [i=1:n] word(files, i) using 1:4 title word(titles, i).' (held-out)' with linespoints pt 7 ps 1.2 lw 2 dt 2 lc rgb colors[i]
