// Package decimal is the exact number type of yerp: every amount of money and every
// quantity is a Decimal, never a float, so 0.1 + 0.2 == 0.3 in expressions, in
// stored documents and in report sums.
//
// A Decimal is an immutable value; the zero value is 0. Arithmetic is exact except
// Div, which rounds to a caller-chosen number of fractional digits.
package decimal

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"

	sd "github.com/shopspring/decimal"
)

// Decimal is an exact decimal number.
type Decimal struct{ d sd.Decimal }

// Zero is the decimal 0.
var Zero = Decimal{}

// ErrSyntax reports text that is not a decimal number.
var ErrSyntax = errors.New("not a decimal number")

// ErrRange reports a value that does not fit the requested scaled representation.
var ErrRange = errors.New("decimal out of range")

// Parse reads a decimal in plain notation ("-12.345", "1e3" is refused so that
// user input never hides a magnitude in an exponent).
func Parse(s string) (Decimal, error) {
	t := strings.TrimSpace(s)
	if t == "" || strings.ContainsAny(t, "eE") {
		return Zero, fmt.Errorf("%q: %w", s, ErrSyntax)
	}
	d, err := sd.NewFromString(t)
	if err != nil {
		return Zero, fmt.Errorf("%q: %w", s, ErrSyntax)
	}
	return Decimal{d}, nil
}

// MustParse is Parse for constants in code and tests; it panics on bad input.
func MustParse(s string) Decimal {
	d, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}

// FromInt returns the integer n as a Decimal.
func FromInt(n int64) Decimal { return Decimal{sd.NewFromInt(n)} }

// FromScaled returns v × 10^-scale, the inverse of Scaled.
func FromScaled(v int64, scale int) Decimal { return Decimal{sd.New(v, -int32(scale))} }

// FromFloat converts a float using its shortest exact decimal representation
// (0.1 becomes exactly 0.1). NaN and infinities are refused.
func FromFloat(f float64) (Decimal, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Zero, fmt.Errorf("%v: %w", f, ErrRange)
	}
	return Decimal{sd.NewFromFloat(f)}, nil
}

// Scaled returns the decimal as an integer count of 10^-scale units. It fails with
// ErrRange when the value has more fractional digits than scale or does not fit
// in an int64.
func (x Decimal) Scaled(scale int) (int64, error) {
	s := x.d.Shift(int32(scale))
	if !s.IsInteger() {
		return 0, fmt.Errorf("%s has more than %d fractional digits: %w", x, scale, ErrRange)
	}
	b := s.BigInt()
	if !b.IsInt64() {
		return 0, fmt.Errorf("%s: %w", x, ErrRange)
	}
	return b.Int64(), nil
}

// Add returns x + y.
func (x Decimal) Add(y Decimal) Decimal { return Decimal{x.d.Add(y.d)} }

// Sub returns x - y.
func (x Decimal) Sub(y Decimal) Decimal { return Decimal{x.d.Sub(y.d)} }

// Mul returns x × y, exactly.
func (x Decimal) Mul(y Decimal) Decimal { return Decimal{x.d.Mul(y.d)} }

// Div returns x ÷ y rounded half away from zero to places fractional digits.
// Dividing by zero returns an error instead of panicking.
func (x Decimal) Div(y Decimal, places int) (Decimal, error) {
	if y.d.IsZero() {
		return Zero, errors.New("division by zero")
	}
	return Decimal{x.d.DivRound(y.d, int32(places))}, nil
}

// Neg returns -x.
func (x Decimal) Neg() Decimal { return Decimal{x.d.Neg()} }

// Abs returns |x|.
func (x Decimal) Abs() Decimal { return Decimal{x.d.Abs()} }

// Round rounds half away from zero to places fractional digits.
func (x Decimal) Round(places int) Decimal { return Decimal{x.d.Round(int32(places))} }

// Cmp returns -1, 0 or +1 as x is less than, equal to or greater than y.
func (x Decimal) Cmp(y Decimal) int { return x.d.Cmp(y.d) }

// Equal reports whether x and y are the same number (1.0 equals 1).
func (x Decimal) Equal(y Decimal) bool { return x.d.Equal(y.d) }

// Sign returns -1, 0 or +1.
func (x Decimal) Sign() int { return x.d.Sign() }

// IsZero reports whether x is 0.
func (x Decimal) IsZero() bool { return x.d.IsZero() }

// IsInteger reports whether x has no fractional part.
func (x Decimal) IsInteger() bool { return x.d.IsInteger() }

// Int64 returns the integer part of x and whether x was an integer that fits.
func (x Decimal) Int64() (int64, bool) {
	if !x.d.IsInteger() {
		return 0, false
	}
	b := x.d.BigInt()
	return b.Int64(), b.IsInt64()
}

// BigRat returns x as an exact rational.
func (x Decimal) BigRat() *big.Rat { return x.d.Rat() }

// String formats x in plain notation without trailing zeros ("1.5", "-0.01", "100").
func (x Decimal) String() string { return x.d.String() }

// StringFixed formats x with exactly places fractional digits ("1.50").
func (x Decimal) StringFixed(places int) string { return x.d.StringFixed(int32(places)) }

// MarshalJSON writes x as a JSON string, so that clients that parse numbers as
// floats (browsers) cannot lose digits.
func (x Decimal) MarshalJSON() ([]byte, error) { return []byte(`"` + x.String() + `"`), nil }

// UnmarshalJSON accepts a JSON string or a JSON number.
func (x *Decimal) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	d, err := Parse(s)
	if err != nil {
		return err
	}
	*x = d
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (x Decimal) MarshalText() ([]byte, error) { return []byte(x.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (x *Decimal) UnmarshalText(b []byte) error {
	d, err := Parse(string(b))
	if err != nil {
		return err
	}
	*x = d
	return nil
}

// Sum adds all values exactly.
func Sum(xs ...Decimal) Decimal {
	var s Decimal
	for _, x := range xs {
		s = s.Add(x)
	}
	return s
}

// Size is about the length of d in plain notation, without its sign and
// point: its significant digits plus the zeros its exponent adds (1e3 →
// 1000, 1e-3 → 0.001). It costs no text, so it bounds numbers cheaply.
func (d Decimal) Size() int {
	n, e := d.d.NumDigits(), int(d.d.Exponent())
	if e >= 0 {
		return n + e
	}
	return max(n, 1-e)
}
