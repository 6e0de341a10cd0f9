package timerslack

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"", Default},
		{"  ", Default},
		{"off", 0},
		{"OFF", 0},
		{"0", 0},
		{"1ms", time.Millisecond},
		{" 200us ", 200 * time.Microsecond},
		{"1s", time.Second},
	} {
		got, err := Parse(c.in)
		if err != nil || got != c.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"fast", "1", "-1ms", "2s", "1ms2"} {
		_, err := Parse(in)
		if err == nil {
			t.Errorf("Parse(%q) accepted", in)
			continue
		}
		if !strings.Contains(err.Error(), Env) || !strings.Contains(err.Error(), in) {
			t.Errorf("Parse(%q): error %q does not name the variable and its value", in, err)
		}
	}
}
