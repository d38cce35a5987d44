package ui

import (
	"strings"
	"testing"
)

// render writes a diff as one line per entry: op, old and new number, text.
func render(d []diffLine) string {
	var b strings.Builder
	for _, l := range d {
		b.WriteString(l.Op)
		b.WriteString(" ")
		b.WriteString(itoa(l.Old))
		b.WriteString(" ")
		b.WriteString(itoa(l.New))
		b.WriteString(" ")
		b.WriteString(l.Text)
		b.WriteString("\n")
	}
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "."
	}
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}

func TestLineDiff(t *testing.T) {
	cases := []struct {
		name, a, b, want string
	}{
		{"equal texts keep every line", "a\nb\n", "a\nb\n", "  1 1 a\n  2 2 b\n"},
		{"both empty is no line", "", "", ""},
		{"a new text is all added", "", "x\ny", "+ . 1 x\n+ . 2 y\n"},
		{"a removed text is all removed", "x\n", "", "- 1 . x\n"},
		{"a line added in the middle", "a\nc\n", "a\nb\nc\n", "  1 1 a\n+ . 2 b\n  2 3 c\n"},
		{"a changed line is removed then added", "a\nb\nc", "a\nB\nc", "  1 1 a\n- 2 . b\n+ . 2 B\n  3 3 c\n"},
		{"a moved line keeps the longest common part", "a\nb\nc\nd\n", "b\nc\nd\na\n",
			"- 1 . a\n  2 1 b\n  3 2 c\n  4 3 d\n+ . 4 a\n"},
		{"a missing final newline is the same line", "a\nb", "a\nb\n", "  1 1 a\n  2 2 b\n"},
		{"interleaved changes", "x\na\ny\nb\nz\n", "a\nq\nb\n",
			"- 1 . x\n  2 1 a\n- 3 . y\n+ . 2 q\n  4 3 b\n- 5 . z\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := lineDiff(tc.a, tc.b)
			if got := render(d); got != tc.want {
				t.Fatalf("diff\n%s\nwant\n%s", got, tc.want)
			}
			// Applying the diff to the old text gives the new one.
			var old, next []string
			for _, l := range d {
				if l.Op != "+" {
					old = append(old, l.Text)
				}
				if l.Op != "-" {
					next = append(next, l.Text)
				}
			}
			if strings.Join(old, "\n") != strings.Join(splitLines(tc.a), "\n") || strings.Join(next, "\n") != strings.Join(splitLines(tc.b), "\n") {
				t.Fatalf("the diff does not rebuild both texts:\n%s", render(d))
			}
		})
	}
}

func TestLineDiffCountsAndLargeInputs(t *testing.T) {
	var a, b []string
	for i := 0; i < 3000; i++ {
		a = append(a, "line "+itoa(i+1))
		if i%1000 != 500 {
			b = append(b, "line "+itoa(i+1))
		}
	}
	d := lineDiff(strings.Join(a, "\n"), strings.Join(b, "\n"))
	if add, rm := diffCounts(d); add != 0 || rm != 3 {
		t.Fatalf("3 of 3000 lines removed: +%d -%d", add, rm)
	}
	// Beyond the table's bound the middle is replaced as a whole.
	var x, y []string
	for i := 0; i < 2100; i++ {
		x = append(x, "old "+itoa(i+1))
		y = append(y, "new "+itoa(i+1))
	}
	d = lineDiff("head\n"+strings.Join(x, "\n")+"\ntail", "head\n"+strings.Join(y, "\n")+"\ntail")
	if add, rm := diffCounts(d); add != 2100 || rm != 2100 || d[0].Text != "head" || d[len(d)-1].Text != "tail" {
		t.Fatalf("large replace: +%d -%d, first %q, last %q", add, rm, d[0].Text, d[len(d)-1].Text)
	}
}
