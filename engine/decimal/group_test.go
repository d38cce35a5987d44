package decimal

import "testing"

func TestGroupThousands(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "999": "999", "1000": "1,000", "-1234567.50": "-1,234,567.50",
		"123456": "123,456", "12.3456": "12.3456", "-0.5": "-0.5", "1000000000": "1,000,000,000",
	} {
		if got := GroupThousands(in); got != want {
			t.Errorf("GroupThousands(%q) = %q, want %q", in, got, want)
		}
	}
}
