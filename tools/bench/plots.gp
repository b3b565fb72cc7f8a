# One plot of cost against scale, log axes, one line per method with its
# spread as error bars.  Called by report.pl:
#   gnuplot -e "datadir='...'; bench='churn'; methods='a b'; out='x.png'; \
#               plottitle='...'; xlab='...'; ylab='...'; xzero=0" plots.gp
# Data: DATADIR/BENCH-METHOD.dat, columns N median min max; N = 0 is written
# as 1 (a log axis has no 0) and labelled "0" when xzero is 1.

set terminal pngcairo size 900,560 font ",11" noenhanced
set output out
set title plottitle
set xlabel xlab
set ylabel ylab
set logscale xy
set grid xtics ytics mxtics mytics lw 0.5 lc rgb "#dddddd"
set key outside right top
set format y "%.0s%c"
if (xzero) {
	set xtics ("0" 1, "10" 10, "100" 100, "1k" 1000, "10k" 10000, "100k" 100000, "1M" 1000000)
} else {
	set format x "%.0s%c"
}
set xrange [0.7:*]
set offsets graph 0.02, graph 0.05, graph 0.05, graph 0.05

file(m) = sprintf("%s/%s-%s.dat", datadir, bench, m)
plot for [i = 1:words(methods)] file(word(methods, i)) using 1:2:3:4 \
	with yerrorlines lw 2 pt 7 ps 0.8 title word(methods, i)
