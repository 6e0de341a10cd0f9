package client

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/nuage-storage/nuage/internal/api"
)

const testObject = "00112233445566778899aabbccddeeff"

func TestObjectStatus(t *testing.T) {
	for _, tc := range []struct {
		name      string
		st        api.ObjectStatus
		segments  int
		list      []int
		committed bool
		err       bool
	}{
		{"none", api.ObjectStatus{Object: testObject, State: "pending"}, 4, []int{}, false, false},
		{"some", api.ObjectStatus{Object: testObject, State: "pending", Committed: []int{3, 0, 1}}, 4, []int{0, 1, 3}, false, false},
		{"duplicates", api.ObjectStatus{Object: testObject, State: "pending", Committed: []int{2, 2}}, 4, []int{2}, false, false},
		{"sealed", api.ObjectStatus{Object: testObject, State: "committed", Committed: []int{0}}, 4, nil, true, false},
		{"other object", api.ObjectStatus{Object: "ffffffffffffffffffffffffffffffff", State: "pending"}, 4, nil, false, true},
		{"unknown state", api.ObjectStatus{Object: testObject, State: "gone"}, 4, nil, false, true},
		{"out of range", api.ObjectStatus{Object: testObject, State: "pending", Committed: []int{4}}, 4, nil, false, true},
		{"negative", api.ObjectStatus{Object: testObject, State: "pending", Committed: []int{-1}}, 4, nil, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done, list, committed, err := objectStatus(tc.st, testObject, tc.segments)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if committed != tc.committed || !slices.Equal(list, tc.list) {
				t.Fatalf("got committed=%v list=%v, want %v %v", committed, list, tc.committed, tc.list)
			}
			if !committed {
				for s := range tc.segments {
					if done[s] != slices.Contains(tc.list, s) {
						t.Fatalf("done[%d] = %v", s, done[s])
					}
				}
			}
		})
	}
}

func TestResumeStateCheck(t *testing.T) {
	good := ResumeState{Object: testObject, Key: make([]byte, 32), SegmentSize: 256 << 10, Scheme: api.Scheme{K: 4, N: 6}, Size: 1000}
	for _, tc := range []struct {
		name string
		edit func(*ResumeState)
		ok   bool
	}{
		{"good", func(*ResumeState) {}, true},
		{"bad object", func(rs *ResumeState) { rs.Object = "xyz" }, false},
		{"short key", func(rs *ResumeState) { rs.Key = rs.Key[:16] }, false},
		{"other size", func(rs *ResumeState) { rs.Size = 999 }, false},
		{"bad segment", func(rs *ResumeState) { rs.SegmentSize = 1000 }, false},
		{"bad scheme", func(rs *ResumeState) { rs.Scheme = api.Scheme{K: 6, N: 4} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := good
			rs.Key = slices.Clone(good.Key)
			tc.edit(&rs)
			if err := rs.check(1000); (err == nil) != tc.ok {
				t.Fatalf("check = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// FuzzObjectStatus feeds the coordinator's answer to GET /objects/{id}
// (untrusted) to its checks: no panic, and what is accepted is a sorted
// set of valid segment indexes.
func FuzzObjectStatus(f *testing.F) {
	f.Add([]byte(`{"object":"`+testObject+`","state":"pending","committed":[0,2,1]}`), 3)
	f.Add([]byte(`{"object":"`+testObject+`","state":"committed"}`), 1)
	f.Add([]byte(`{"object":"`+testObject+`","state":"pending","committed":[9]}`), 3)
	f.Add([]byte(`{"object":"x","state":"pending"}`), 0)
	f.Fuzz(func(t *testing.T, b []byte, segments int) {
		if segments < 0 || segments > 1<<16 {
			return
		}
		var st api.ObjectStatus
		if json.Unmarshal(b, &st) != nil {
			return
		}
		done, list, committed, err := objectStatus(st, testObject, segments)
		if err != nil || committed {
			return
		}
		if len(done) != segments || !slices.IsSorted(list) {
			t.Fatalf("done %d for %d segments, list %v", len(done), segments, list)
		}
		for i, s := range list {
			if s < 0 || s >= segments || !done[s] || (i > 0 && list[i-1] == s) {
				t.Fatalf("bad list %v", list)
			}
		}
	})
}
