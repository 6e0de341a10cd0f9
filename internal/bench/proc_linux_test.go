package bench

import "testing"

func TestParseVmHWM(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"Name:\tx\nVmPeak:\t 100 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1 kB\n", 2 << 20},
		{"VmHWM: 0 kB", 0},
		{"VmHWM:\t12 MB\n", 0},
		{"VmHWM:\t-5 kB\n", 0},
		{"VmHWM:\tlots kB\n", 0},
		{"Name:\tzombie\n", 0},
	} {
		if got := parseVmHWM([]byte(tc.in)); got != tc.want {
			t.Errorf("parseVmHWM(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
	if selfPeakRSS() <= 0 {
		t.Error("no VmHWM for this process")
	}
}
