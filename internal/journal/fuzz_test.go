package journal

import (
	"bytes"
	"testing"
)

// FuzzParse: any byte string either fails with ErrMalformed or parses into
// a record that encodes back to exactly the same bytes.
func FuzzParse(f *testing.F) {
	key := testKey("journal key")
	for _, r := range shared(key).recs {
		f.Add(r)
	}
	f.Add(writerSeed(key))
	f.Add([]byte{})
	f.Add(make([]byte, headerSize+changeSize+macSize))
	f.Add(append([]byte{WriterVersion}, make([]byte, writerHeaderSize-1+changeSize+macSize)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatalf("Marshal(Parse(b)) differs from b")
		}
		if r.Seq == 0 || len(r.Changes) == 0 || len(r.Changes) > MaxChanges || len(b) > MaxEncodedSz {
			t.Fatalf("parsed a record the format forbids: seq %d, %d changes, %d bytes", r.Seq, len(r.Changes), len(b))
		}
		seen := map[ID]bool{}
		for _, c := range r.Changes {
			if seen[c.Entry] {
				t.Fatalf("parsed a record that changes %v twice", c.Entry)
			}
			seen[c.Entry] = true
			if r.Writer() && c.Op != Put && c.Op != Delete {
				t.Fatalf("parsed a writer record with op %d", c.Op)
			}
		}
	})
}

// writerSeed is a valid writer record following shared(key).
func writerSeed(key [32]byte) []byte {
	c := shared(key)
	return c.nextWriter(keyK, put(testID("seed"), dirA, testHash("seed")), del(fileF))
}

// fuzzIDs maps fuzz bytes to IDs of a small space that includes the
// entries and keys of shared(): entries, parents and key IDs collide often.
func fuzzEntry(b byte) ID {
	switch b % 11 {
	case 8:
		return dirA
	case 9:
		return dirB
	case 10:
		return fileF
	}
	return ID{0xf0, b%11 + 1}
}

func fuzzParent(b byte) ID {
	switch {
	case b%5 == 0:
		return root
	case b%7 == 0:
		return dirA
	case b%11 == 0:
		return outside
	case b%9 == 0:
		return ID{}
	}
	return ID{0xf0, b%9 + 1}
}

func fuzzKeyID(b byte) ID {
	switch b % 4 {
	case 0:
		return keyK
	case 1:
		return keyR
	}
	return ID{0xf1, b % 4}
}

// FuzzApply drives State.Apply two ways from one input: as raw bytes
// (which can never authenticate, so the state must not change), and as a
// record of changes sealed under the right key, checked against the simple
// reference implementation. The first byte picks an owner record or a
// writer record under the active or the revoked key of shared().
func FuzzApply(f *testing.F) {
	key := testKey("journal key")
	c := shared(key)
	for _, r := range c.recs {
		f.Add(r)
	}
	f.Add([]byte{2, 1, 3, 1, 2, 2, 4, 1, 0, 5})
	f.Add([]byte{2, 2, 3, 1, 3, 2, 1})
	f.Add([]byte{0, 1, 0, 7, 1, 1, 0, 2, 8, 0})    // writer: put under F, delete inside
	f.Add([]byte{0, 1, 0, 11, 1, 1, 5, 0, 9, 0})   // writer: put outside, delete dirB
	f.Add([]byte{2, 4, 2, 7, 5, 0, 0, 4, 1, 14})   // owner: grant, revoke
	f.Add([]byte{1, 1, 0, 7})                      // writer under the revoked key
	f.Add([]byte{0, 1, 8, 7, 1, 0, 8, 1, 1, 0, 1}) // writer: F itself, moves
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
		if len(b) < 4 {
			return
		}
		r := Record{Seq: s.Seq + 1, Prev: s.Head, Time: t0}
		switch b[0] % 3 {
		case 0:
			r.KeyID = keyK
		case 1:
			r.KeyID = keyR
		}
		// Then 3 bytes per change: op, entry (or key), parent.
		for i := 1; i+3 <= len(b) && len(r.Changes) < 64; i += 3 {
			switch b[i] % 6 {
			case 0:
				r.Changes = append(r.Changes, del(fuzzEntry(b[i+1])))
			case 4:
				r.Changes = append(r.Changes, Change{Op: Grant, Entry: fuzzKeyID(b[i+1]), Parent: fuzzParent(b[i+2])})
			case 5:
				r.Changes = append(r.Changes, Change{Op: Revoke, Entry: fuzzKeyID(b[i+1])})
			default:
				r.Changes = append(r.Changes, put(fuzzEntry(b[i+1]), fuzzParent(b[i+2]), [32]byte{b[i], b[i+1], b[i+2], 1}))
			}
		}
		checkAgainstRef(t, s, key, r, before)
	})
}

// FuzzApplyRecord parses arbitrary bytes as a record and, if they parse,
// makes them the next record (seq, prev) sealed under the key they need,
// so that every check after authentication sees fuzzed records.
func FuzzApplyRecord(f *testing.F) {
	key := testKey("journal key")
	c := shared(key)
	for _, r := range c.recs {
		f.Add(r)
	}
	f.Add(writerSeed(key))
	f.Add(shared(key).nextWriter(keyK, put(dirB, outside, testHash("b"))))
	f.Add(shared(key).next(Change{Op: Grant, Entry: testID("new key"), Parent: dirB}, Change{Op: Revoke, Entry: keyK}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		s := NewState()
		mustApply(t, s, key, c.recs...)
		before := encodeState(t, s)
		r.Seq, r.Prev = s.Seq+1, s.Head
		checkAgainstRef(t, s, key, r, before)
	})
}

// checkAgainstRef seals r (under the journal key, or its write key),
// applies it to s (whose encoding is before) and checks the outcome
// against refApply: accepted or refused alike, the same state after, an
// unchanged state after a refusal, and a state that round-trips.
func checkAgainstRef(t *testing.T, s *State, key [32]byte, r Record, before []byte) {
	t.Helper()
	ref := refFromState(s)
	sealKey := key
	if r.Writer() {
		sealKey = WriteKey(key, r.KeyID)
	}
	enc := r.Seal(sealKey)
	want, ok := refApply(ref, r, false)
	err := s.Apply(enc, key)
	if ok != (err == nil) {
		t.Fatalf("reference accepts=%v, Apply: %v (record %+v)", ok, err, r)
	}
	if !ok {
		if !bytes.Equal(encodeState(t, s), before) {
			t.Fatal("a refused record changed the state")
		}
		return
	}
	if d := sameAsRef(s, want); d != "" {
		t.Fatal(d)
	}
	checkIndex(t, s)
	var d State
	if err := d.UnmarshalBinary(encodeState(t, s)); err != nil {
		t.Fatalf("state after a valid record does not decode: %v", err)
	}
}

// FuzzUnmarshalState: any bytes decode into a state that encodes back to
// the same bytes, or fail.
func FuzzUnmarshalState(f *testing.F) {
	key := testKey("journal key")
	s := NewState()
	mustApply(f, s, key, shared(key).recs...)
	b, _ := s.MarshalBinary()
	f.Add(b)
	s2 := NewState()
	mustApply(f, s2, key, base(key).recs...)
	b, _ = s2.MarshalBinary()
	f.Add(b)
	b, _ = NewState().MarshalBinary()
	f.Add(b)
	f.Add([]byte("nuage-jstate-v2\x00"))
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
		for k, folder := range s.WriteKeys {
			if _, ok := s.Granted[k]; !ok || folder == (ID{}) {
				t.Fatalf("active key %v not granted, or without a folder", k)
			}
		}
		for id := range s.Entries {
			s.Children(id)
			s.Within(id, root)
		}
		checkIndex(t, &s)
	})
}
