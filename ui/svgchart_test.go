package ui

import (
	"encoding/xml"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/yerp/yerp/engine/decimal"
)

// svgElem is an element of a drawn chart with its attributes and text.
type svgElem struct {
	Name  string
	Attrs map[string]string
	Text  string
}

// parseSVG reads a chart as XML (so a label that is not escaped fails the
// test) and returns its elements in order.
func parseSVG(t *testing.T, s string) []svgElem {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(s))
	var out []svgElem
	var stack []int
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed XML: %v\n%s", err, s)
		}
		switch x := tok.(type) {
		case xml.StartElement:
			e := svgElem{Name: x.Name.Local, Attrs: map[string]string{}}
			for _, a := range x.Attr {
				e.Attrs[a.Name.Local] = a.Value
			}
			out = append(out, e)
			stack = append(stack, len(out)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				out[stack[len(stack)-1]].Text += string(x)
			}
		}
	}
	return out
}

func attrFloat(t *testing.T, e svgElem, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(e.Attrs[name], 64)
	if err != nil {
		t.Fatalf("%s %s=%q: %v", e.Name, name, e.Attrs[name], err)
	}
	return v
}

func decs(ss ...string) []decimal.Decimal {
	out := make([]decimal.Decimal, len(ss))
	for i, s := range ss {
		out[i] = decimal.MustParse(s)
	}
	return out
}

func plain(d decimal.Decimal) string { return formatNumber("money", d) }

// Vertical bars: one per category, heights proportional to the values, all
// on the same baseline, the exact values written as text, and the SVG
// accessible (role, label, title, description).
func TestBarChartHeightsProportional(t *testing.T) {
	values := decs("1200.50", "300.25", "0", "2401.00")
	c := &chart{ID: "c1", Kind: chartBars, Title: "Sales by month", Categories: []string{"2026-01", "2026-02", "2026-03", "2026-04"},
		Series: []chartSeries{{Name: "Sales", Values: values}}, Format: plain}
	els := parseSVG(t, string(c.SVG()))
	root := els[0]
	if root.Name != "svg" || root.Attrs["role"] != "img" || root.Attrs["aria-label"] != "Sales by month" || root.Attrs["viewBox"] == "" || root.Attrs["width"] != "" {
		t.Fatalf("svg element %v: want role=img, an aria-label, a viewBox and no fixed width", root.Attrs)
	}
	if els[1].Name != "title" || els[1].Text != "Sales by month" {
		t.Fatalf("first child %s %q, want the title", els[1].Name, els[1].Text)
	}
	if els[2].Name != "desc" || !strings.Contains(els[2].Text, "2026-04: 2,401.00") {
		t.Fatalf("description %q should name every value", els[2].Text)
	}
	var bars []svgElem
	var texts []string
	for _, e := range els {
		if e.Attrs["class"] == "bar" {
			bars = append(bars, e)
		}
		if e.Name == "text" {
			texts = append(texts, e.Text)
		}
	}
	if len(bars) != len(values) {
		t.Fatalf("%d bars, want %d", len(bars), len(values))
	}
	unit := attrFloat(t, bars[3], "height") / 2401.00
	base := attrFloat(t, bars[3], "y") + attrFloat(t, bars[3], "height")
	for i, b := range bars {
		v, _ := values[i].BigRat().Float64()
		if h := attrFloat(t, b, "height"); math.Abs(h-v*unit) > 0.11 {
			t.Errorf("bar %d height %v, want %v (proportional to %v)", i, h, v*unit, v)
		}
		if bottom := attrFloat(t, b, "y") + attrFloat(t, b, "height"); math.Abs(bottom-base) > 0.11 {
			t.Errorf("bar %d ends at %v, the others at %v", i, bottom, base)
		}
		if b.Attrs["data-value"] != values[i].String() {
			t.Errorf("bar %d data-value %q, want %s", i, b.Attrs["data-value"], values[i])
		}
	}
	joined := strings.Join(texts, "|")
	for _, want := range []string{"1,200.50", "300.25", "2,401.00", "2026-01", "2026-04"} {
		if !strings.Contains(joined, want) {
			t.Errorf("the chart's texts %q lack %q", joined, want)
		}
	}
}

// Horizontal bars: widths proportional; a negative value goes left of the
// axis; labels with markup are escaped (the SVG still parses and the text
// reads as written).
func TestHBarChartEscapesAndScales(t *testing.T) {
	evil := `<script>alert("x")</script> & Co`
	values := decs("500", "250", "-100")
	c := &chart{ID: `a"b`, Kind: chartHBars, Title: "Top <customers>", Categories: []string{evil, "客户二", "C"},
		Series: []chartSeries{{Name: "Sales", Values: values}}, Format: plain}
	out := string(c.SVG())
	if strings.Contains(out, "<script") || strings.Contains(out, "<customers>") {
		t.Fatalf("markup in labels is not escaped:\n%s", out)
	}
	els := parseSVG(t, out)
	if els[0].Attrs["aria-label"] != "Top <customers>" {
		t.Fatalf("aria-label %q", els[0].Attrs["aria-label"])
	}
	var bars []svgElem
	found := false
	for _, e := range els {
		if e.Attrs["class"] == "bar" {
			bars = append(bars, e)
		}
		if e.Name == "text" && strings.HasPrefix(e.Text, "<script>") {
			found = true
		}
	}
	if !found {
		t.Errorf("the escaped label does not read back as written")
	}
	if len(bars) != 3 {
		t.Fatalf("%d bars, want 3", len(bars))
	}
	w0, w1, w2 := attrFloat(t, bars[0], "width"), attrFloat(t, bars[1], "width"), attrFloat(t, bars[2], "width")
	// Coordinates are written to 0.1 px: the ratios hold within 1%.
	if math.Abs(w0/w1-2) > 0.02 || math.Abs(w0/w2-5) > 0.05 {
		t.Errorf("widths %v %v %v, want proportional to 500, 250, 100", w0, w1, w2)
	}
	if x2, x0 := attrFloat(t, bars[2], "x"), attrFloat(t, bars[0], "x"); math.Abs(x2+w2-x0) > 0.11 {
		t.Errorf("the negative bar spans %v..%v; it should end at the axis %v", x2, x2+w2, x0)
	}
}

// Stacked bars (aging): each row's segments sum to the row's total length,
// proportional across rows; a legend names every series.
func TestStackedChart(t *testing.T) {
	c := &chart{ID: "aging", Kind: chartStacked, Title: "Receivable aging", Categories: []string{"A", "B"},
		Series: []chartSeries{
			{Name: "Not due", Values: decs("100", "0")},
			{Name: "0–30 days", Values: decs("50", "300")},
			{Name: "Over 90 days", Values: decs("150", "0")},
		}, Format: plain}
	els := parseSVG(t, string(c.SVG()))
	widths := map[int]float64{}
	legend := 0
	row := -1
	lastY := ""
	for _, e := range els {
		switch e.Attrs["class"] {
		case "seg":
			if e.Attrs["y"] != lastY {
				row++
				lastY = e.Attrs["y"]
			}
			widths[row] += attrFloat(t, e, "width")
		case "legend":
			legend++
		}
	}
	if legend != 3 {
		t.Errorf("%d legend entries, want 3", legend)
	}
	if math.Abs(widths[0]-widths[1]) > 0.3 {
		t.Errorf("rows of 300 and 300 are %v and %v long", widths[0], widths[1])
	}
}

// An empty chart draws nothing.
func TestChartEmpty(t *testing.T) {
	if s := (&chart{Kind: chartBars, Format: plain}).SVG(); s != "" {
		t.Fatalf("empty chart drew %q", s)
	}
}

func TestFormatNumberExact(t *testing.T) {
	for _, c := range []struct{ typ, in, want string }{
		{"money", "1234567.5", "1,234,567.50"},
		{"money", "0.125", "0.125"}, // never rounded away
		{"quantity", "1000", "1,000"},
		{"int", "-12345", "-12,345"},
		{"percent", "33.33", "33.33"},
	} {
		if got := formatNumber(c.typ, decimal.MustParse(c.in)); got != c.want {
			t.Errorf("formatNumber(%s, %s) = %q, want %q", c.typ, c.in, got, c.want)
		}
	}
}
