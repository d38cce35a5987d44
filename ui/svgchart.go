package ui

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"

	"github.com/yerp/yerp/engine/decimal"
)

// Charts drawn by the server as inline SVG: no script, no library. Values are
// exact decimals; only the geometry is computed in floating point, and every
// number written as text is the exact decimal formatted by the caller.
//
// Three kinds:
//
//	bars     vertical bars, one per category (a time series: sales by month)
//	hbars    horizontal bars, one per category (a ranking: top customers)
//	stacked  horizontal bars split into series (aging buckets per customer)
//
// The SVG has role="img", an aria-label, a <title> and a <desc> naming every
// value, a viewBox without fixed size (it scales to its container; the
// sizes below keep 12–13 px text readable at 390 px wide), axis labels and
// the values as text.

// chartKind is one of the kinds above.
type chartKind string

const (
	chartBars    chartKind = "bars"
	chartHBars   chartKind = "hbars"
	chartStacked chartKind = "stacked"
)

// chartSeries is one measure of a chart: a value per category.
type chartSeries struct {
	Name   string
	Values []decimal.Decimal
}

// chart is a chart to draw.
type chart struct {
	ID         string // unique within the page: ids of <title> and <desc>
	Kind       chartKind
	Title      string
	Categories []string
	Series     []chartSeries // one for bars and hbars
	// Format writes a value as text (exact, with thousands separators).
	Format func(decimal.Decimal) string
}

// chartColors have at least 4.5:1 contrast against white (WCAG text contrast,
// more than the 3:1 graphics need), and differ in lightness for the stacked
// segments.
var chartColors = []string{"#1b5fb8", "#1e7a3c", "#8a5a00", "#b3261e", "#5b2a9e", "#00695c", "#4a5560"}

// agingColors go from settled-looking green to alarming red.
var agingColors = []string{"#1e7a3c", "#1b5fb8", "#8a5a00", "#b85400", "#b3261e", "#7a1212", "#4a5560"}

const (
	chartWidth = 400.0
	chartFont  = 13.0
)

// f is a value as a float, for geometry only.
func chartFloat(d decimal.Decimal) float64 {
	v, _ := d.BigRat().Float64()
	return v
}

// esc escapes text for SVG (XML) content and attributes.
func svgEsc(s string) string { return html.EscapeString(s) }

// num writes a coordinate with at most one decimal.
func svgNum(v float64) string { return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) }

// textWidth estimates the width of s in pixels at size px: CJK characters
// are square, others about 0.6 em.
func svgTextWidth(s string, size float64) float64 {
	w := 0.0
	for _, r := range s {
		if r >= 0x2E80 {
			w += size
		} else {
			w += size * 0.6
		}
	}
	return w
}

// clip shortens s to about width pixels, with an ellipsis.
func svgClip(s string, width, size float64) string {
	if svgTextWidth(s, size) <= width {
		return s
	}
	out := []rune{}
	w := svgTextWidth("…", size)
	for _, r := range s {
		rw := size * 0.6
		if r >= 0x2E80 {
			rw = size
		}
		if w+rw > width {
			break
		}
		w += rw
		out = append(out, r)
	}
	return string(out) + "…"
}

// niceStep is a round step (1, 2 or 5 × 10^n) that cuts span into about n parts.
func svgStep(span float64, n int) float64 {
	if span <= 0 {
		return 1
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// tickText writes an axis tick: whole numbers grouped by thousands, else as
// few decimals as the step needs.
func svgTick(v, step float64) string {
	places := 0
	if step < 1 {
		places = int(math.Ceil(-math.Log10(step)))
	}
	d, err := decimal.FromFloat(v)
	if err != nil {
		return strconv.FormatFloat(v, 'f', places, 64)
	}
	out := decimal.GroupThousands(d.Round(places).StringFixed(places))
	if out == "-0" {
		out = "0"
	}
	return out
}

// chartScale maps values to an axis: the range [lo, hi] always includes 0 and is
// extended to round ticks.
type chartScale struct {
	lo, hi, step float64
}

func newChartScale(values []float64) chartScale {
	lo, hi := 0.0, 0.0
	for _, v := range values {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if lo == 0 && hi == 0 {
		hi = 1
	}
	step := svgStep(hi-lo, 4)
	return chartScale{lo: math.Floor(lo/step) * step, hi: math.Ceil(hi/step) * step, step: step}
}

// at is where v falls between 0 and length.
func (s chartScale) at(v, length float64) float64 { return (v - s.lo) / (s.hi - s.lo) * length }

func (s chartScale) ticks() []float64 {
	var out []float64
	for v := s.lo; v <= s.hi+s.step/2; v += s.step {
		out = append(out, math.Round(v/s.step)*s.step)
	}
	return out
}

// SVG draws the chart.
func (c *chart) SVG() template.HTML {
	if c == nil || len(c.Categories) == 0 || len(c.Series) == 0 {
		return ""
	}
	switch c.Kind {
	case chartHBars:
		return c.hbars()
	case chartStacked:
		return c.stacked()
	}
	return c.bars()
}

// desc names every value, for screen readers.
func (c *chart) desc() string {
	var parts []string
	for i, cat := range c.Categories {
		var vals []string
		for _, s := range c.Series {
			v := c.Format(s.Values[i])
			if len(c.Series) > 1 {
				v = s.Name + " " + v
			}
			vals = append(vals, v)
		}
		parts = append(parts, cat+": "+strings.Join(vals, ", "))
	}
	return strings.Join(parts, "; ")
}

// open writes the <svg> element with its title and description.
func (c *chart) open(b *strings.Builder, height float64) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-%s" viewBox="0 0 %s %s" role="img" aria-label="%s" aria-labelledby="%s-t %s-d" preserveAspectRatio="xMidYMid meet" font-size="%s">`,
		c.Kind, svgNum(chartWidth), svgNum(height), svgEsc(c.Title), svgEsc(c.ID), svgEsc(c.ID), svgNum(chartFont))
	fmt.Fprintf(b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, svgEsc(c.ID), svgEsc(c.Title), svgEsc(c.ID), svgEsc(c.desc()))
}

// bars draws vertical bars with a value axis on the left and the categories
// below (turned when they do not fit).
func (c *chart) bars() template.HTML {
	s := c.Series[0]
	vals := make([]float64, len(s.Values))
	for i, v := range s.Values {
		vals[i] = chartFloat(v)
	}
	sc := newChartScale(vals)
	// The left margin fits the longest tick label.
	left := 8.0
	for _, tv := range sc.ticks() {
		left = math.Max(left, svgTextWidth(svgTick(tv, sc.step), chartFont-1)+12)
	}
	n := float64(len(c.Categories))
	plotW := chartWidth - left - 8
	slot := plotW / n
	maxLabel := 0.0
	for _, cat := range c.Categories {
		maxLabel = math.Max(maxLabel, svgTextWidth(cat, chartFont-1))
	}
	turned := maxLabel > slot-4
	bottom := 24.0
	if turned {
		bottom = math.Min(maxLabel, 90)*0.72 + 18
	}
	valueAbove := true
	for _, v := range s.Values {
		if svgTextWidth(c.Format(v), chartFont-2) > slot-2 {
			valueAbove = false
		}
	}
	top := 12.0
	if valueAbove {
		top = 22
	}
	plotH := 200.0
	height := top + plotH + bottom
	var b strings.Builder
	c.open(&b, height)
	// Grid lines and ticks.
	for _, tv := range sc.ticks() {
		y := top + plotH - sc.at(tv, plotH)
		fmt.Fprintf(&b, `<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s" stroke="#d5dbe1"/>`, svgNum(left), svgNum(chartWidth-8), svgNum(y), svgNum(y))
		fmt.Fprintf(&b, `<text class="tick" x="%s" y="%s" text-anchor="end" fill="#4a5560" font-size="%s">%s</text>`, svgNum(left-6), svgNum(y+4), svgNum(chartFont-1), svgEsc(svgTick(tv, sc.step)))
	}
	zero := top + plotH - sc.at(0, plotH)
	barW := math.Max(slot*0.7, 1)
	color := chartColors[0]
	for i, cat := range c.Categories {
		v := vals[i]
		x := left + slot*float64(i) + (slot-barW)/2
		y, h := top+plotH-sc.at(v, plotH), sc.at(v, plotH)-sc.at(0, plotH)
		if h < 0 {
			y, h = zero, -h
		}
		text := c.Format(s.Values[i])
		fmt.Fprintf(&b, `<rect class="bar" data-value="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s: %s</title></rect>`,
			svgEsc(s.Values[i].String()), svgNum(x), svgNum(y), svgNum(barW), svgNum(h), color, svgEsc(cat), svgEsc(text))
		if valueAbove {
			ty := y - 5
			if v < 0 {
				ty = y + h + chartFont
			}
			fmt.Fprintf(&b, `<text class="value" x="%s" y="%s" text-anchor="middle" fill="#1d232b" font-size="%s">%s</text>`, svgNum(x+barW/2), svgNum(ty), svgNum(chartFont-2), svgEsc(text))
		}
		cx := left + slot*float64(i) + slot/2
		ly := top + plotH + 16
		if turned {
			fmt.Fprintf(&b, `<text class="cat" x="%s" y="%s" text-anchor="end" transform="rotate(-45 %s %s)" fill="#1d232b" font-size="%s">%s</text>`,
				svgNum(cx+4), svgNum(ly-4), svgNum(cx+4), svgNum(ly-4), svgNum(chartFont-1), svgEsc(svgClip(cat, 90, chartFont-1)))
		} else {
			fmt.Fprintf(&b, `<text class="cat" x="%s" y="%s" text-anchor="middle" fill="#1d232b" font-size="%s">%s</text>`, svgNum(cx), svgNum(ly), svgNum(chartFont-1), svgEsc(cat))
		}
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%s" x2="%s" y1="%s" y2="%s" stroke="#1d232b"/>`, svgNum(left), svgNum(chartWidth-8), svgNum(zero), svgNum(zero))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// hbarRow is the height of one horizontal bar's row.
const hbarRow = 26.0

// labelColumn is the width of the category labels of horizontal bars: the
// longest label, within a third of the chart.
func (c *chart) labelColumn() float64 {
	w := 0.0
	for _, cat := range c.Categories {
		w = math.Max(w, svgTextWidth(cat, chartFont))
	}
	return math.Min(w, chartWidth/3) + 8
}

// hbars draws one horizontal bar per category, the value at its end.
func (c *chart) hbars() template.HTML {
	s := c.Series[0]
	vals := make([]float64, len(s.Values))
	valueW := 0.0
	for i, v := range s.Values {
		vals[i] = chartFloat(v)
		valueW = math.Max(valueW, svgTextWidth(c.Format(v), chartFont-1))
	}
	sc := newChartScale(vals)
	left := c.labelColumn()
	plotW := chartWidth - left - valueW - 12
	height := hbarRow*float64(len(c.Categories)) + 8
	var b strings.Builder
	c.open(&b, height)
	zero := left + sc.at(0, plotW)
	for i, cat := range c.Categories {
		y := 4 + hbarRow*float64(i)
		x, w := zero, sc.at(vals[i], plotW)-sc.at(0, plotW)
		if w < 0 {
			x, w = zero+w, -w
		}
		text := c.Format(s.Values[i])
		fmt.Fprintf(&b, `<text class="cat" x="%s" y="%s" text-anchor="end" fill="#1d232b">%s</text>`, svgNum(left-6), svgNum(y+hbarRow/2+4), svgEsc(svgClip(cat, left-8, chartFont)))
		fmt.Fprintf(&b, `<rect class="bar" data-value="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s: %s</title></rect>`,
			svgEsc(s.Values[i].String()), svgNum(x), svgNum(y+3), svgNum(w), svgNum(hbarRow-8), chartColors[0], svgEsc(cat), svgEsc(text))
		fmt.Fprintf(&b, `<text class="value" x="%s" y="%s" fill="#1d232b" font-size="%s">%s</text>`, svgNum(math.Max(x+w, zero)+4), svgNum(y+hbarRow/2+4), svgNum(chartFont-1), svgEsc(text))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%s" x2="%s" y1="2" y2="%s" stroke="#1d232b"/>`, svgNum(zero), svgNum(zero), svgNum(height-2))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// stacked draws one horizontal bar per category made of one segment per
// series (negative values count as nothing), a legend above, the total at
// the end of each bar.
func (c *chart) stacked() template.HTML {
	n := len(c.Categories)
	totals := make([]decimal.Decimal, n)
	tf := make([]float64, n)
	valueW := 0.0
	for i := range c.Categories {
		for _, s := range c.Series {
			if s.Values[i].Sign() > 0 {
				totals[i] = totals[i].Add(s.Values[i])
			}
		}
		tf[i] = chartFloat(totals[i])
		valueW = math.Max(valueW, svgTextWidth(c.Format(totals[i]), chartFont-1))
	}
	sc := newChartScale(tf)
	left := c.labelColumn()
	plotW := chartWidth - left - valueW - 12
	// The legend wraps over as many lines as it needs.
	type legendItem struct{ x, y float64 }
	var items []legendItem
	lx, ly := 4.0, 14.0
	for _, s := range c.Series {
		w := 16 + svgTextWidth(s.Name, chartFont-1) + 14
		if lx+w > chartWidth && lx > 4 {
			lx, ly = 4, ly+20
		}
		items = append(items, legendItem{lx, ly})
		lx += w
	}
	top := ly + 12
	height := top + hbarRow*float64(n) + 4
	var b strings.Builder
	c.open(&b, height)
	for k, s := range c.Series {
		it := items[k]
		fmt.Fprintf(&b, `<rect class="key" x="%s" y="%s" width="12" height="12" fill="%s"/>`, svgNum(it.x), svgNum(it.y-10), agingColors[k%len(agingColors)])
		fmt.Fprintf(&b, `<text class="legend" x="%s" y="%s" fill="#1d232b" font-size="%s">%s</text>`, svgNum(it.x+16), svgNum(it.y), svgNum(chartFont-1), svgEsc(s.Name))
	}
	for i, cat := range c.Categories {
		y := top + hbarRow*float64(i)
		fmt.Fprintf(&b, `<text class="cat" x="%s" y="%s" text-anchor="end" fill="#1d232b">%s</text>`, svgNum(left-6), svgNum(y+hbarRow/2+4), svgEsc(svgClip(cat, left-8, chartFont)))
		x := left
		for k, s := range c.Series {
			v := s.Values[i]
			if v.Sign() <= 0 {
				continue
			}
			w := sc.at(chartFloat(v), plotW) - sc.at(0, plotW)
			fmt.Fprintf(&b, `<rect class="seg" data-series="%d" data-value="%s" x="%s" y="%s" width="%s" height="%s" fill="%s" stroke="#fff" stroke-width="1"><title>%s · %s: %s</title></rect>`,
				k, svgEsc(v.String()), svgNum(x), svgNum(y+3), svgNum(w), svgNum(hbarRow-8), agingColors[k%len(agingColors)], svgEsc(cat), svgEsc(s.Name), svgEsc(c.Format(v)))
			x += w
		}
		fmt.Fprintf(&b, `<text class="value" x="%s" y="%s" fill="#1d232b" font-size="%s">%s</text>`, svgNum(x+4), svgNum(y+hbarRow/2+4), svgNum(chartFont-1), svgEsc(c.Format(totals[i])))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%s" x2="%s" y1="%s" y2="%s" stroke="#1d232b"/>`, svgNum(left), svgNum(left), svgNum(top), svgNum(height-2))
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
