package journal

import (
	"bytes"
	"testing"
)

// FuzzParse: any byte string either fails with ErrMalformed or parses into
// a record that encodes back to exactly the same bytes.
func FuzzParse(f *testing.F) {
	key := testKey("journal key")
	for _, r := range base(key).recs {
		f.Add(r)
	}
	f.Add([]byte{})
	f.Add(make([]byte, headerSize+changeSize+macSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatalf("Marshal(Parse(b)) differs from b")
		}
		if r.Seq == 0 || len(r.Changes) == 0 || len(r.Changes) > MaxChanges {
			t.Fatalf("parsed a record the format forbids: seq %d, %d changes", r.Seq, len(r.Changes))
		}
	})
}

// FuzzApply drives State.Apply two ways from one input: as raw bytes
// (which can never authenticate, so the state must not change), and as a
// list of changes sealed under the right key, checked against the simple
// reference implementation.
func FuzzApply(f *testing.F) {
	key := testKey("journal key")
	c := base(key)
	for _, r := range c.recs {
		f.Add(r)
	}
	f.Add([]byte{1, 3, 1, 2, 2, 4, 1, 0, 5})
	f.Add([]byte{2, 3, 1, 3, 2, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewState()
		mustApply(t, s, key, c.recs...)
		before := encodeState(t, s)
		if err := s.Apply(b, key); err == nil {
			// Only a valid record sealed by this test could pass, and
			// none of the seeds is the next one.
			t.Fatalf("raw input applied")
		}
		if !bytes.Equal(encodeState(t, s), before) {
			t.Fatal("a refused record changed the state")
		}

		// Interpret b as changes over a small ID space: 3 bytes each
		// (op, entry, parent); IDs 1..8, parent 0 = top level.
		var changes []Change
		for i := 0; i+3 <= len(b) && len(changes) < 64; i += 3 {
			id := ID{0xf0, b[i+1]%8 + 1}
			if b[i]%3 == 0 {
				changes = append(changes, Change{Op: Delete, Entry: id})
				continue
			}
			var parent ID
			if p := b[i+2] % 9; p != 0 {
				parent = ID{0xf0, p}
			}
			if b[i+2]%5 == 0 {
				parent = root
			}
			changes = append(changes, Change{Op: Put, Entry: id, Parent: parent, Hash: [32]byte{b[i], b[i+1], b[i+2], 1}})
		}
		if len(changes) == 0 {
			return
		}
		ref := make(map[ID]EntryState, len(s.Entries))
		for k, v := range s.Entries {
			ref[k] = v
		}
		r := Record{Seq: s.Seq + 1, Prev: s.Head, Time: t0, Changes: changes}
		enc := r.Seal(key)
		want, ok := refApply(ref, r)
		err := s.Apply(enc, key)
		if ok != (err == nil) {
			t.Fatalf("reference accepts=%v, Apply: %v", ok, err)
		}
		if !ok {
			if !bytes.Equal(encodeState(t, s), before) {
				t.Fatal("a refused record changed the state")
			}
			return
		}
		if len(s.Entries) != len(want) {
			t.Fatalf("%d entries, reference %d", len(s.Entries), len(want))
		}
		for id, e := range want {
			if s.Entries[id] != e {
				t.Fatalf("entry %v differs from the reference", id)
			}
		}
		var d State
		if err := d.UnmarshalBinary(encodeState(t, s)); err != nil {
			t.Fatalf("state after a valid record does not decode: %v", err)
		}
	})
}

// FuzzUnmarshalState: any bytes decode into a state that encodes back to
// the same bytes, or fail.
func FuzzUnmarshalState(f *testing.F) {
	key := testKey("journal key")
	s := NewState()
	mustApply(f, s, key, base(key).recs...)
	b, _ := s.MarshalBinary()
	f.Add(b)
	f.Add([]byte("nuage-jstate-v1\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s State
		if err := s.UnmarshalBinary(b); err != nil {
			return
		}
		out, _ := s.MarshalBinary()
		if !bytes.Equal(out, b) {
			t.Fatal("state does not round-trip")
		}
		for id := range s.Entries {
			s.Children(id)
		}
	})
}
