package hugepage

import "testing"

func TestAllocZeroedOfAnySize(t *testing.T) {
	for _, n := range []int{0, 1, 4096, Size - 1, Size, 2*Size - 1, 2 * Size, 5*Size + 12345} {
		b := Alloc(n)
		if len(b) != n {
			t.Fatalf("Alloc(%d) has length %d", n, len(b))
		}
		for i, v := range b {
			if v != 0 {
				t.Fatalf("Alloc(%d)[%d] = %d, want 0", n, i, v)
			}
		}
		for i := range b {
			b[i] = byte(i)
		}
	}
}
