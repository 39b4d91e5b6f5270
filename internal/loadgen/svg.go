package loadgen

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Series is one set of latencies to draw, with its name in the legend.
type Series struct {
	Name    string
	Samples []Sample
}

// chart geometry
const (
	svgW, svgH                 = 720, 360
	padL, padR, padT, padB     = 70, 20, 40, 50
	plotW, plotH               = svgW - padL - padR, svgH - padT - padB
	histogramBins              = 40
	fontAttrs                  = `font-family="sans-serif" font-size="12"`
	maxPointsPerSeriesInChart  = 1500
	legendLineHeight           = 16
	legendX                    = padL + 10
	legendY                    = padT + 14
	tickCount                  = 5
	histogramOpacity           = "0.55"
	overTimeOpacity            = "0.7"
	overTimeRadius             = "1.6"
	axisColour, gridColour     = "#333", "#ddd"
	titleSize                  = `font-size="14"`
	noDataMessage              = "no successful samples"
	milliseconds               = float64(time.Millisecond)
	seconds                    = float64(time.Second)
	histogramYAxisLabel        = "requests"
	overTimeYAxisLabel         = "latency (ms)"
	overTimeXAxisLabel         = "time since the step started (s)"
	histogramXAxisLabel        = "latency (ms)"
	defaultSeriesColourInvalid = "#000"
)

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

func colour(i int) string {
	if i < 0 {
		return defaultSeriesColourInvalid
	}
	return palette[i%len(palette)]
}

// ok returns the latencies of the successful samples, in ms.
func okMillis(ss []Sample) []float64 {
	var out []float64
	for _, s := range ss {
		if s.Failed == "" {
			out = append(out, float64(s.Latency)/milliseconds)
		}
	}
	return out
}

func svgStart(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", svgW, svgH)
	fmt.Fprintf(b, `<text x="%d" y="22" font-family="sans-serif" %s font-weight="bold">%s</text>`+"\n", padL, titleSize, html.EscapeString(title))
}

// axes draws the frame, the ticks and the labels of [0, xmax] x [0, ymax].
func axes(b *strings.Builder, xmax, ymax float64, xlabel, ylabel string, yInt bool) {
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="%s"/>`+"\n", padL, padT, plotW, plotH, axisColour)
	for i := 0; i <= tickCount; i++ {
		f := float64(i) / tickCount
		x := padL + f*plotW
		y := padT + plotH - f*plotH
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", x, padT, x, padT+plotH, gridColour)
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>`+"\n", padL, y, padL+plotW, y, gridColour)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle" %s>%s</text>`+"\n", x, padT+plotH+16, fontAttrs, tick(f*xmax, false))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" %s>%s</text>`+"\n", padL-6, y+4, fontAttrs, tick(f*ymax, yInt))
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle" %s>%s</text>`+"\n", padL+plotW/2, svgH-10, fontAttrs, html.EscapeString(xlabel))
	fmt.Fprintf(b, `<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)" %s>%s</text>`+"\n", padT+plotH/2, padT+plotH/2, fontAttrs, html.EscapeString(ylabel))
}

func tick(v float64, integer bool) string {
	switch {
	case integer:
		return fmt.Sprintf("%.0f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func legend(b *strings.Builder, series []Series, extra func(i int) string) {
	for i, s := range series {
		y := legendY + i*legendLineHeight
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="10" height="10" fill="%s"/>`+"\n", legendX, y-9, colour(i))
		fmt.Fprintf(b, `<text x="%d" y="%d" %s>%s</text>`+"\n", legendX+16, y, fontAttrs, html.EscapeString(s.Name+extra(i)))
	}
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// WriteHistogram draws the latency histogram of every series (bars of one
// series side by side with the others, on one scale) up to the largest
// series' 99.9th percentile, so that a few outliers do not flatten it;
// the legend gives each series' median and p99.
func WriteHistogram(w io.Writer, title string, series []Series) error {
	var b strings.Builder
	svgStart(&b, title)
	all := make([][]float64, len(series))
	hi := 0.0
	for i, s := range series {
		all[i] = okMillis(s.Samples)
		slices.Sort(all[i])
		if n := len(all[i]); n > 0 {
			hi = max(hi, all[i][min(n-1, int(float64(n)*0.999))])
		}
	}
	if hi == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s>%s</text>`+"\n", padL+20, padT+40, fontAttrs, noDataMessage)
		b.WriteString("</svg>\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	xmax := niceMax(hi)
	width := xmax / histogramBins
	counts := make([][]int, len(series))
	ymax := 0
	for i, ls := range all {
		counts[i] = make([]int, histogramBins)
		for _, l := range ls {
			k := min(int(l/width), histogramBins-1)
			counts[i][k]++
			ymax = max(ymax, counts[i][k])
		}
	}
	ytop := niceMax(float64(ymax))
	axes(&b, xmax, ytop, histogramXAxisLabel, histogramYAxisLabel, true)
	barW := float64(plotW) / histogramBins / float64(max(len(series), 1))
	for i := range series {
		for k, c := range counts[i] {
			if c == 0 {
				continue
			}
			h := float64(c) / ytop * plotH
			x := padL + float64(k)*float64(plotW)/histogramBins + float64(i)*barW
			fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s" fill-opacity="%s"/>`+"\n", x, padT+plotH-h, barW, h, colour(i), histogramOpacity)
		}
	}
	legend(&b, series, func(i int) string {
		s := Summarize(series[i].Samples)
		return fmt.Sprintf(": median %.2f ms, p99 %.2f ms, n=%d", float64(s.Median)/milliseconds, float64(s.P99)/milliseconds, s.Count)
	})
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteOverTime draws every sample's latency against the time it started
// (a point each; at most maxPointsPerSeriesInChart per series, evenly
// thinned), the picture that shows a slowdown, a stall or a warm-up.
func WriteOverTime(w io.Writer, title string, series []Series) error {
	var b strings.Builder
	svgStart(&b, title)
	tmax, lmax := 0.0, 0.0
	for _, s := range series {
		for _, smp := range s.Samples {
			if smp.Failed == "" {
				tmax = max(tmax, float64(smp.At+smp.Latency)/seconds)
				lmax = max(lmax, float64(smp.Latency)/milliseconds)
			}
		}
	}
	if lmax == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s>%s</text>`+"\n", padL+20, padT+40, fontAttrs, noDataMessage)
		b.WriteString("</svg>\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	xmax, ymax := niceMax(tmax), niceMax(lmax)
	axes(&b, xmax, ymax, overTimeXAxisLabel, overTimeYAxisLabel, false)
	for i, s := range series {
		step := max(1, ceilDiv(len(s.Samples), maxPointsPerSeriesInChart))
		fmt.Fprintf(&b, `<g fill="%s" fill-opacity="%s">`+"\n", colour(i), overTimeOpacity)
		drawn := map[[2]int]bool{} // a point per pixel: a batch's items share one
		for k := 0; k < len(s.Samples); k += step {
			smp := s.Samples[k]
			if smp.Failed != "" {
				continue
			}
			x := padL + float64(smp.At)/seconds/xmax*plotW
			y := padT + plotH - float64(smp.Latency)/milliseconds/ymax*plotH
			if px := [2]int{int(x), int(y)}; !drawn[px] {
				drawn[px] = true
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%s"/>`+"\n", x, y, overTimeRadius)
			}
		}
		b.WriteString("</g>\n")
	}
	legend(&b, series, func(i int) string { return "" })
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
