package dataio

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/yerp/yerp/engine/decimal"
	"github.com/yerp/yerp/engine/template"
)

// Cell values: an import turns the text of a cell into the value the engine
// takes for its field, accepting what spreadsheets write (labels of options,
// 是/否, 2026/1/5, serial dates, 1,234.50); what it cannot read it passes on
// unchanged, so the engine refuses it with its own code (not_a_number, ...).

var (
	trueWords  = []string{"true", "yes", "y", "1", "是", "对", "真", "√", "✓", "on"}
	falseWords = []string{"false", "no", "n", "0", "否", "错", "假", "×", "✗", "off"}
	dateRE     = regexp.MustCompile(`^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T].*)?$`)
	dateTimeRE = regexp.MustCompile(`^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?$`)
	serialRE   = regexp.MustCompile(`^\d+(\.\d+)?$`)
)

// cellValue converts the text of a cell for field f (never "" here).
func cellValue(f *template.FieldDecl, s string, sh *sheet, loc *time.Location) any {
	switch f.Type.V {
	case "int", "decimal", "money", "quantity", "percent":
		return number(s)
	case "bool":
		w := strings.ToLower(s)
		for _, t := range trueWords {
			if w == t {
				return true
			}
		}
		for _, t := range falseWords {
			if w == t {
				return false
			}
		}
		return s
	case "date":
		if m := dateRE.FindStringSubmatch(s); m != nil {
			y, _ := strconv.Atoi(m[1])
			mo, _ := strconv.Atoi(m[2])
			d, _ := strconv.Atoi(m[3])
			if t := time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC); t.Month() == time.Month(mo) && t.Day() == d {
				return t.Format(template.DateLayout)
			}
			return s
		}
		if t, ok := serialDate(s, sh); ok {
			return t.Format(template.DateLayout)
		}
		return s
	case "datetime":
		if _, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return s
		}
		if m := dateTimeRE.FindStringSubmatch(s); m != nil {
			n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
			sec := 0
			if m[6] != "" {
				sec = n(6)
			}
			return time.Date(n(1), time.Month(n(2)), n(3), n(4), n(5), sec, 0, loc).Format(time.RFC3339)
		}
		if t, ok := serialDate(s, sh); ok {
			// Serial dates carry no zone: they are wall-clock time where the
			// file was written.
			return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, loc).Format(time.RFC3339)
		}
		return s
	case "select":
		return option(f, s)
	case "multiselect":
		parts := strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(",，;；、|\n", r) })
		out := make([]any, 0, len(parts))
		for _, p := range parts {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, option(f, p))
			}
		}
		return out
	case "text", "longtext", "email", "phone", "barcode":
		// An export writes formula-like text with a leading apostrophe.
		if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@", rune(s[1])) {
			return s[1:]
		}
		return s
	case "json":
		dec := json.NewDecoder(bytes.NewReader([]byte(s)))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err == nil && !dec.More() {
			return v
		}
		return s
	}
	return s
}

// number reads a number as spreadsheets write it: thousands separators and
// a currency sign are dropped, and a binary float from an XLSX cell
// (0.30000000000000004) is read as the 15 significant digits Excel shows.
func number(s string) any {
	t := strings.NewReplacer(",", "", "，", "", " ", "", "¥", "", "￥", "", "%", "").Replace(s)
	if _, err := decimal.Parse(t); err != nil {
		return s
	}
	digits := 0
	for _, r := range t {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	if digits > 15 {
		if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsInf(f, 0) {
			return strconv.FormatFloat(f, 'g', 15, 64)
		}
	}
	return t
}

// serialDate reads an Excel serial date (days since 1900, or 1904) from an
// XLSX cell.
func serialDate(s string, sh *sheet) (time.Time, bool) {
	if sh == nil || !sh.xlsx || !serialRE.MatchString(s) {
		return time.Time{}, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > 2958465 {
		return time.Time{}, false
	}
	t, err := excelize.ExcelDateToTime(f, sh.date1904)
	if err != nil {
		return time.Time{}, false
	}
	return t.Round(time.Second), true
}

// option maps a select's value or label (zh-CN or en, any case) to its value.
func option(f *template.FieldDecl, s string) string {
	for _, o := range f.Options {
		if o.V == s {
			return s
		}
	}
	n := norm(s)
	for _, o := range f.Options {
		if norm(o.V) == n {
			return o.V
		}
		if l, ok := f.OptionLabels.Get(o.V); ok {
			for _, t := range l.Text {
				if norm(t) == n {
					return o.V
				}
			}
		}
	}
	return s
}
