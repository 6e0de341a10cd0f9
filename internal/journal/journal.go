// Package journal is the authenticated, versioned history of an account's
// tree (docs/spec.md §9). Every change to the tree is a record naming the
// entries it puts or deletes and the hash of each entry's stored bytes; the
// records form a hash chain, and each carries an HMAC under a key only the
// account's client holds. A client that replays the chain knows exactly which
// entries must exist, under which parent, with which bytes, so a coordinator
// that rolls back, reorders, drops, adds or swaps anything is caught.
package journal

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
)

// Version is the record format version.
const Version = 1

// Limits of one record.
const (
	MaxChanges   = 10000
	changeSize   = 1 + 16 + 16 + 32
	headerSize   = 1 + 8 + 32 + 8 + 4
	macSize      = 32
	MaxEncodedSz = headerSize + MaxChanges*changeSize + macSize
)

// Errors callers decide on.
var (
	ErrMalformed = errors.New("journal: malformed record")
	ErrMAC       = errors.New("journal: record does not authenticate (not written by this account's client)")
	ErrChain     = errors.New("journal: record does not extend the chain")
	ErrRollback  = errors.New("journal: the coordinator's history is older than one this client has seen")
	ErrState     = errors.New("journal: record is inconsistent with the tree")
)

var (
	macContext   = []byte("nuage-journal-v1\x00")
	entryContext = []byte("nuage-entry-v1\x00")
)

// ID is a 16-byte entry ID.
type ID [16]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Op is what a change does to an entry.
type Op uint8

// Ops.
const (
	Put    Op = 1 // create or replace the entry
	Delete Op = 2 // remove the entry
)

// Change is one entry put or deleted by a record.
type Change struct {
	Op     Op
	Entry  ID
	Parent ID       // zero for the root and trash folders, and for deletes
	Hash   [32]byte // EntryHash of the stored entry; zero for deletes
}

// Record is one step of the journal.
type Record struct {
	Seq     uint64
	Prev    [32]byte // Hash of the previous record's encoding; zero for Seq 1
	Time    time.Time
	Changes []Change
	MAC     [32]byte
}

func (r *Record) body() []byte {
	b := make([]byte, 0, headerSize+len(r.Changes)*changeSize+macSize)
	b = append(b, Version)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = append(b, r.Prev[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Changes)))
	for _, c := range r.Changes {
		b = append(b, byte(c.Op))
		b = append(b, c.Entry[:]...)
		b = append(b, c.Parent[:]...)
		b = append(b, c.Hash[:]...)
	}
	return b
}

func mac(key [32]byte, body []byte) [32]byte {
	m := hmac.New(sha256.New, key[:])
	m.Write(macContext)
	m.Write(body)
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// Seal computes the record's MAC under key and returns its encoding.
func (r *Record) Seal(key [32]byte) []byte {
	body := r.body()
	r.MAC = mac(key, body)
	return append(body, r.MAC[:]...)
}

// Marshal returns the encoding of a sealed record.
func (r *Record) Marshal() []byte { return append(r.body(), r.MAC[:]...) }

// Verify checks the record's MAC under key in constant time.
func (r *Record) Verify(key [32]byte) error {
	want := mac(key, r.body())
	if subtle.ConstantTimeCompare(want[:], r.MAC[:]) != 1 {
		return fmt.Errorf("%w: seq %d", ErrMAC, r.Seq)
	}
	return nil
}

// Hash returns the chain hash of an encoded record.
func Hash(encoded []byte) [32]byte { return sha256.Sum256(encoded) }

// Parse decodes a record. It checks structure only: Verify checks the MAC.
func Parse(b []byte) (Record, error) {
	var r Record
	if len(b) < headerSize+macSize {
		return r, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if b[0] != Version {
		return r, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	r.Seq = binary.BigEndian.Uint64(b[1:9])
	copy(r.Prev[:], b[9:41])
	r.Time = time.Unix(int64(binary.BigEndian.Uint64(b[41:49])), 0)
	n := binary.BigEndian.Uint32(b[49:53])
	if r.Seq == 0 || n == 0 || n > MaxChanges || len(b) != headerSize+int(n)*changeSize+macSize {
		return r, fmt.Errorf("%w: seq %d with %d changes in %d bytes", ErrMalformed, r.Seq, n, len(b))
	}
	r.Changes = make([]Change, n)
	p := b[headerSize:]
	for i := range r.Changes {
		c := &r.Changes[i]
		c.Op = Op(p[0])
		copy(c.Entry[:], p[1:17])
		copy(c.Parent[:], p[17:33])
		copy(c.Hash[:], p[33:65])
		switch c.Op {
		case Put:
			if c.Hash == ([32]byte{}) {
				return r, fmt.Errorf("%w: put of %s without a hash", ErrMalformed, c.Entry)
			}
		case Delete:
			if c.Parent != (ID{}) || c.Hash != ([32]byte{}) {
				return r, fmt.Errorf("%w: delete of %s carries a parent or hash", ErrMalformed, c.Entry)
			}
		default:
			return r, fmt.Errorf("%w: unknown op %d", ErrMalformed, c.Op)
		}
		if c.Entry == (ID{}) {
			return r, fmt.Errorf("%w: zero entry ID", ErrMalformed)
		}
		p = p[changeSize:]
	}
	copy(r.MAC[:], p)
	if r.Seq == 1 && r.Prev != ([32]byte{}) {
		return r, fmt.Errorf("%w: first record with a previous hash", ErrMalformed)
	}
	return r, nil
}

// EntryHash is the hash a record carries for a stored entry: every field
// the coordinator stores and returns, length-prefixed (docs/spec.md §9).
func EntryHash(e api.Entry) ([32]byte, error) {
	h := sha256.New()
	h.Write(entryContext)
	field := func(b []byte) {
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(b)))
		h.Write(l[:])
		h.Write(b)
	}
	id, ok := decodeHex(e.ID)
	if !ok || len(id) != 16 {
		return [32]byte{}, fmt.Errorf("%w: entry ID %q", ErrMalformed, e.ID)
	}
	var parent []byte
	if e.Parent != "" {
		parent, ok = decodeHex(e.Parent)
		if !ok || len(parent) != 16 {
			return [32]byte{}, fmt.Errorf("%w: parent ID %q", ErrMalformed, e.Parent)
		}
	}
	objs := make([]byte, 0, 16*len(e.Objects))
	for _, o := range e.Objects {
		ob, ok := decodeHex(o)
		if !ok || len(ob) != 16 {
			return [32]byte{}, fmt.Errorf("%w: object ID %q", ErrMalformed, o)
		}
		objs = append(objs, ob...)
	}
	field(id)
	field(parent)
	field([]byte(e.Kind))
	field(e.NameTag)
	field(e.WrappedKey)
	field(e.Meta)
	field(objs)
	var out [32]byte
	h.Sum(out[:0])
	return out, nil
}

// decodeHex decodes lowercase hex; the spec gives every ID one spelling,
// so upper-case hex is refused.
func decodeHex(s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'F' {
			return nil, false
		}
	}
	b, err := hex.DecodeString(s)
	return b, err == nil
}

// EntryState is what the journal says about one entry.
type EntryState struct {
	Parent ID
	Hash   [32]byte
}

// State is the tree as the journal describes it, up to record Seq.
//
// Entries is read-only for callers: change a State only with Apply or
// UnmarshalBinary, which keep its index of children consistent. A State is
// not safe for concurrent use.
type State struct {
	Seq     uint64
	Head    [32]byte // Hash of record Seq's encoding
	Entries map[ID]EntryState

	kids map[ID]map[ID]struct{} // parent → children; built on first use
}

// NewState returns the state before the first record.
func NewState() *State { return &State{Entries: make(map[ID]EntryState)} }

// index returns the parent → children index, building it if needed.
func (s *State) index() map[ID]map[ID]struct{} {
	if s.kids == nil {
		s.kids = make(map[ID]map[ID]struct{})
		for id, e := range s.Entries {
			if e.Parent != (ID{}) {
				s.addKid(e.Parent, id)
			}
		}
	}
	return s.kids
}

func (s *State) addKid(parent, id ID) {
	m := s.kids[parent]
	if m == nil {
		m = make(map[ID]struct{})
		s.kids[parent] = m
	}
	m[id] = struct{}{}
}

func (s *State) removeKid(parent, id ID) {
	if m := s.kids[parent]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(s.kids, parent)
		}
	}
}

// CheckLatest compares the latest seq a coordinator claims with the state:
// a journal that ends before a record this state has applied is a
// rollback (ErrRollback).
func (s *State) CheckLatest(latest uint64) error {
	if latest < s.Seq {
		return fmt.Errorf("%w: it ends at record %d, this client has applied record %d", ErrRollback, latest, s.Seq)
	}
	return nil
}

// Apply verifies an encoded record against key and the state, and applies
// it. On error the state is unchanged. Its cost is proportional to the
// number of changes in the record (times the depth of the tree for the
// cycle check), not to the size of the tree.
func (s *State) Apply(encoded []byte, key [32]byte) error {
	r, err := Parse(encoded)
	if err != nil {
		return err
	}
	if err := r.Verify(key); err != nil {
		return err
	}
	if r.Seq != s.Seq+1 {
		return fmt.Errorf("%w: got seq %d after %d", ErrChain, r.Seq, s.Seq)
	}
	if r.Prev != s.Head {
		return fmt.Errorf("%w: seq %d does not follow the record this client holds", ErrChain, r.Seq)
	}
	if s.Entries == nil {
		s.Entries = make(map[ID]EntryState)
	}
	kids := s.index()

	// after holds the state of every entry the record touches once it is
	// applied; nil for a deleted entry. The rest of the tree is unchanged.
	after := make(map[ID]*EntryState, len(r.Changes))
	for i := range r.Changes {
		c := &r.Changes[i]
		if _, dup := after[c.Entry]; dup {
			return fmt.Errorf("%w: seq %d changes %s twice", ErrState, r.Seq, c.Entry)
		}
		old, exists := s.Entries[c.Entry]
		switch c.Op {
		case Put:
			if c.Parent == (ID{}) && r.Seq != 1 && (!exists || old.Parent != (ID{})) {
				return fmt.Errorf("%w: seq %d adds a top-level folder %s", ErrState, r.Seq, c.Entry)
			}
			if c.Parent == c.Entry {
				return fmt.Errorf("%w: seq %d makes %s its own parent", ErrState, r.Seq, c.Entry)
			}
			after[c.Entry] = &EntryState{Parent: c.Parent, Hash: c.Hash}
		case Delete:
			if !exists {
				return fmt.Errorf("%w: seq %d deletes unknown entry %s", ErrState, r.Seq, c.Entry)
			}
			after[c.Entry] = nil
		}
	}
	lookup := func(id ID) (EntryState, bool) {
		if e, ok := after[id]; ok {
			if e == nil {
				return EntryState{}, false
			}
			return *e, true
		}
		e, ok := s.Entries[id]
		return e, ok
	}
	// Children a folder has once the record is applied: its current
	// children, minus those the record moves away or deletes, plus those it
	// puts under it (counted once, in added).
	added := make(map[ID]int)
	for k, e := range after {
		if e != nil && e.Parent != (ID{}) {
			if old, ok := s.Entries[k]; !ok || old.Parent != e.Parent {
				added[e.Parent]++
			}
		}
	}
	childCount := func(p ID) int {
		n := added[p]
		for k := range kids[p] {
			if e, ok := after[k]; !ok || (e != nil && e.Parent == p) {
				n++
			}
		}
		return n
	}
	for id, e := range after {
		if e == nil {
			// A deleted entry must leave no child behind.
			if childCount(id) > 0 {
				return fmt.Errorf("%w: seq %d deletes %s but leaves entries under it", ErrState, r.Seq, id)
			}
			continue
		}
		if e.Parent == (ID{}) {
			continue
		}
		if _, ok := lookup(e.Parent); !ok {
			return fmt.Errorf("%w: seq %d leaves %s under missing folder %s", ErrState, r.Seq, id, e.Parent)
		}
		// No entry may become its own ancestor. Every step walks up one
		// existing entry, so a walk longer than the tree is a cycle.
		cur, limit := e.Parent, len(s.Entries)+len(after)+1
		for i := 0; cur != (ID{}); i++ {
			if cur == id || i > limit {
				return fmt.Errorf("%w: seq %d makes %s its own ancestor", ErrState, r.Seq, id)
			}
			pe, ok := lookup(cur)
			if !ok {
				break // a missing ancestor is reported for the entry under it
			}
			cur = pe.Parent
		}
	}
	for id, e := range after {
		if old, ok := s.Entries[id]; ok && old.Parent != (ID{}) {
			s.removeKid(old.Parent, id)
		}
		if e == nil {
			delete(s.Entries, id)
			continue
		}
		s.Entries[id] = *e
		if e.Parent != (ID{}) {
			s.addKid(e.Parent, id)
		}
	}
	s.Seq = r.Seq
	s.Head = Hash(encoded)
	return nil
}

// Children returns the IDs of the entries whose parent is p, sorted.
func (s *State) Children(p ID) []ID {
	m := s.index()[p]
	out := make([]ID, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return bytes.Compare(out[i][:], out[j][:]) < 0 })
	return out
}

// NumChildren returns how many entries have p as their parent.
func (s *State) NumChildren(p ID) int { return len(s.index()[p]) }

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := &State{Seq: s.Seq, Head: s.Head, Entries: make(map[ID]EntryState, len(s.Entries))}
	for k, v := range s.Entries {
		c.Entries[k] = v
	}
	return c
}

// MarshalBinary encodes the state for the client's local cache:
// "nuage-jstate-v1" || 0x00 || seq || head || count || (id || parent || hash)*,
// entries sorted by ID.
func (s *State) MarshalBinary() ([]byte, error) {
	ids := make([]ID, 0, len(s.Entries))
	for id := range s.Entries {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return bytes.Compare(ids[i][:], ids[j][:]) < 0 })
	b := make([]byte, 0, len(stateMagic)+8+32+4+len(ids)*stateEntrySize)
	b = append(b, stateMagic...)
	b = binary.BigEndian.AppendUint64(b, s.Seq)
	b = append(b, s.Head[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		e := s.Entries[id]
		b = append(b, id[:]...)
		b = append(b, e.Parent[:]...)
		b = append(b, e.Hash[:]...)
	}
	return b, nil
}

var stateMagic = []byte("nuage-jstate-v1\x00")

const stateEntrySize = 16 + 16 + 32

// UnmarshalBinary decodes a state written by MarshalBinary. It refuses an
// encoding that no sequence of valid records can produce: entries out of
// order or repeated, a zero entry ID or hash, an entry under a missing
// folder, a cycle, or entries without any record applied.
func (s *State) UnmarshalBinary(b []byte) error {
	if !bytes.HasPrefix(b, stateMagic) || len(b) < len(stateMagic)+44 {
		return fmt.Errorf("%w: not a journal state", ErrMalformed)
	}
	b = b[len(stateMagic):]
	seq := binary.BigEndian.Uint64(b[:8])
	var head [32]byte
	copy(head[:], b[8:40])
	n := binary.BigEndian.Uint32(b[40:44])
	b = b[44:]
	if uint64(len(b)) != uint64(n)*stateEntrySize {
		return fmt.Errorf("%w: journal state length", ErrMalformed)
	}
	if (seq == 0) != (head == [32]byte{}) || (seq == 0 && n != 0) {
		return fmt.Errorf("%w: journal state at seq %d", ErrMalformed, seq)
	}
	m := make(map[ID]EntryState, n)
	var prev ID
	for i := 0; i < int(n); i++ {
		var id ID
		var e EntryState
		copy(id[:], b[:16])
		copy(e.Parent[:], b[16:32])
		copy(e.Hash[:], b[32:64])
		if id == (ID{}) || e.Hash == ([32]byte{}) || (i > 0 && bytes.Compare(prev[:], id[:]) >= 0) {
			return fmt.Errorf("%w: journal state entry %d", ErrMalformed, i)
		}
		m[id] = e
		prev = id
		b = b[stateEntrySize:]
	}
	for id, e := range m {
		cur, steps := e.Parent, 0
		for cur != (ID{}) {
			pe, ok := m[cur]
			if !ok || cur == id || steps > len(m) {
				return fmt.Errorf("%w: journal state entry %s is not in the tree", ErrMalformed, id)
			}
			cur, steps = pe.Parent, steps+1
		}
	}
	s.Seq, s.Head, s.Entries, s.kids = seq, head, m, nil
	return nil
}
