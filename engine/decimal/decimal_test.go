package decimal

import (
	"encoding/json"
	"errors"
	"math"
	"testing"
)

func TestArithmeticIsExact(t *testing.T) {
	cases := []struct {
		name string
		got  Decimal
		want string
	}{
		{"0.1 + 0.2", MustParse("0.1").Add(MustParse("0.2")), "0.3"},
		{"1 - 0.9", FromInt(1).Sub(MustParse("0.9")), "0.1"},
		{"price × qty", MustParse("19.99").Mul(MustParse("3")), "59.97"},
		{"cents summed", Sum(MustParse("0.01"), MustParse("0.01"), MustParse("0.01")), "0.03"},
		{"negation", MustParse("12.5").Neg(), "-12.5"},
		{"rounding half away from zero", MustParse("2.345").Round(2), "2.35"},
		{"rounding negative", MustParse("-2.345").Round(2), "-2.35"},
		{"float via shortest text", must(FromFloat(0.1)), "0.1"},
		{"scaled", FromScaled(-150, 2), "-1.5"},
	}
	for _, c := range cases {
		if c.got.String() != c.want || !c.got.Equal(MustParse(c.want)) {
			t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
		}
	}
	q, err := FromInt(10).Div(FromInt(3), 4)
	if err != nil || q.String() != "3.3333" {
		t.Errorf("10 / 3 to 4 places = %s, %v", q, err)
	}
	if _, err := FromInt(1).Div(Zero, 2); err == nil {
		t.Error("division by zero gave no error")
	}
}

func must(d Decimal, err error) Decimal {
	if err != nil {
		panic(err)
	}
	return d
}

func TestParseRefusesWhatIsNotPlainDecimal(t *testing.T) {
	for _, s := range []string{"", " ", "abc", "1e3", "1E-2", "1.2.3", "--1", "0x10", "NaN"} {
		if _, err := Parse(s); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q): got %v, want ErrSyntax", s, err)
		}
	}
	if d, err := Parse(" -0012.500 "); err != nil || d.String() != "-12.5" {
		t.Errorf("Parse with spaces and zeros: %s, %v", d, err)
	}
	if _, err := FromFloat(math.NaN()); !errors.Is(err, ErrRange) {
		t.Errorf("FromFloat(NaN): %v", err)
	}
}

func TestScaled(t *testing.T) {
	n, err := MustParse("12.345678").Scaled(6)
	if err != nil || n != 12345678 {
		t.Errorf("Scaled(6) = %d, %v", n, err)
	}
	if _, err := MustParse("0.0000001").Scaled(6); !errors.Is(err, ErrRange) {
		t.Errorf("7 fractional digits at scale 6: %v, want ErrRange", err)
	}
	if _, err := MustParse("9223372036854.775808").Scaled(6); !errors.Is(err, ErrRange) {
		t.Errorf("above int64 at scale 6: %v, want ErrRange", err)
	}
	if n, err := MustParse("-9223372036854.775808").Scaled(6); err != nil || n != math.MinInt64 {
		t.Errorf("min int64 at scale 6: %d, %v", n, err)
	}
}

func TestJSONKeepsEveryDigit(t *testing.T) {
	in := map[string]Decimal{"a": MustParse("12345678901234567890.123456789")}
	b, err := json.Marshal(in)
	if err != nil || string(b) != `{"a":"12345678901234567890.123456789"}` {
		t.Fatalf("marshal: %s, %v", b, err)
	}
	var out map[string]Decimal
	if err := json.Unmarshal([]byte(`{"a":"1.50","b":2.25}`), &out); err != nil {
		t.Fatal(err)
	}
	if out["a"].String() != "1.5" || out["b"].String() != "2.25" {
		t.Fatalf("unmarshal: %v", out)
	}
	if err := json.Unmarshal([]byte(`{"a":"1e9"}`), &out); err == nil {
		t.Fatal("exponent accepted from JSON")
	}
}

func TestCompare(t *testing.T) {
	a, b := MustParse("1.10"), MustParse("1.1")
	if a.Cmp(b) != 0 || !a.Equal(b) || MustParse("-1").Cmp(Zero) != -1 || Zero.Sign() != 0 || !Zero.IsZero() {
		t.Fatal("comparison of equal numbers with different scales")
	}
	if n, ok := MustParse("42.0").Int64(); !ok || n != 42 {
		t.Fatalf("Int64 of 42.0: %d, %v", n, ok)
	}
	if _, ok := MustParse("42.5").Int64(); ok {
		t.Fatal("Int64 of 42.5 reported an integer")
	}
}

func TestSize(t *testing.T) {
	for s, want := range map[string]int{"0": 1, "7": 1, "-12.345": 5, "1000": 4, "0.001": 4, "123456789012345678901234567890": 30} {
		if got := MustParse(s).Size(); got != want {
			t.Errorf("Size(%s) = %d, want %d", s, got, want)
		}
	}
}
