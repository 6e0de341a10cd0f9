// Package journal is the authenticated, versioned history of an account's
// tree (docs/spec.md §9). Every change to the tree is a record naming the
// entries it puts or deletes and the hash of each entry's stored bytes; the
// records form a hash chain, and each carries an HMAC under a key only the
// account's client holds. A client that replays the chain knows exactly which
// entries must exist, under which parent, with which bytes, so a coordinator
// that rolls back, reorders, drops, adds or swaps anything is caught.
//
// The owner's records (version 1) may also grant and revoke write keys for
// shared folders; a user a folder is shared with read-write writes records
// of version 2 ("writer records"), authenticated with the write key and
// confined to the folder the key was granted for (§9, §11.3).
package journal

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
)

// Record format versions.
const (
	// Version is the format of the owner's records, MACed under the
	// journal key.
	Version = 1
	// WriterVersion is the format of writer records, MACed under a write
	// key granted for a shared folder.
	WriterVersion = 2
)

// Limits of one record.
const (
	MaxChanges       = 10000
	changeSize       = 1 + 16 + 16 + 32
	headerSize       = 1 + 8 + 32 + 8 + 4      // owner record
	writerHeaderSize = 1 + 8 + 32 + 8 + 16 + 4 // writer record: key ID after time
	macSize          = 32
	// MaxEncodedSz is the size of the largest valid record (a writer
	// record of MaxChanges changes).
	MaxEncodedSz = writerHeaderSize + MaxChanges*changeSize + macSize
)

// Errors callers decide on.
var (
	ErrMalformed = errors.New("journal: malformed record")
	ErrMAC       = errors.New("journal: record does not authenticate (not written by this account's client)")
	ErrChain     = errors.New("journal: record does not extend the chain")
	ErrRollback  = errors.New("journal: the coordinator's history is older than one this client has seen")
	ErrState     = errors.New("journal: record is inconsistent with the tree")
	// ErrWriteKey reports a writer record whose key ID is not an active
	// write key of the state: never granted, or revoked.
	ErrWriteKey = errors.New("journal: writer record under a write key that is not active")
)

var (
	macContext       = []byte("nuage-journal-v1\x00")
	writerMACContext = []byte("nuage-journal-v2\x00")
	entryContext     = []byte("nuage-entry-v1\x00")
)

// writeKeyLabel is the HKDF info of a write key (spec §9).
const writeKeyLabel = "nuage v1 share write"

// ID is a 16-byte entry ID (or, in grants, revokes and writer records, a
// write key ID).
type ID [16]byte

func (id ID) String() string { return hex.EncodeToString(id[:]) }

// Op is what a change does to an entry.
type Op uint8

// Ops.
const (
	Put    Op = 1 // create or replace the entry
	Delete Op = 2 // remove the entry
	// Grant activates a write key: Entry is the key ID, Parent the shared
	// folder, Hash zero. Owner records only.
	Grant Op = 3
	// Revoke deactivates a write key: Entry is the key ID, Parent and
	// Hash zero. Owner records only.
	Revoke Op = 4
)

// Change is one entry put or deleted, or one write key granted or revoked,
// by a record.
type Change struct {
	Op     Op
	Entry  ID       // the entry; for Grant and Revoke the write key ID
	Parent ID       // zero for the root and trash folders, deletes and revokes; the shared folder for grants
	Hash   [32]byte // EntryHash of the stored entry; zero for deletes, grants and revokes
}

// Record is one step of the journal.
type Record struct {
	Seq  uint64
	Prev [32]byte // Hash of the previous record's encoding; zero for Seq 1
	Time time.Time
	// KeyID is zero for an owner record (version 1, MACed under the
	// journal key) and names the write key of a writer record (version 2,
	// MACed under WriteKey(journal key, KeyID)).
	KeyID   ID
	Changes []Change
	MAC     [32]byte
}

// Writer reports whether r is a writer record (version 2).
func (r *Record) Writer() bool { return r.KeyID != (ID{}) }

func (r *Record) body() []byte {
	hs := headerSize
	if r.Writer() {
		hs = writerHeaderSize
	}
	b := make([]byte, 0, hs+len(r.Changes)*changeSize+macSize)
	if r.Writer() {
		b = append(b, WriterVersion)
	} else {
		b = append(b, Version)
	}
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = append(b, r.Prev[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.Unix()))
	if r.Writer() {
		b = append(b, r.KeyID[:]...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Changes)))
	for _, c := range r.Changes {
		b = append(b, byte(c.Op))
		b = append(b, c.Entry[:]...)
		b = append(b, c.Parent[:]...)
		b = append(b, c.Hash[:]...)
	}
	return b
}

// mac is the record MAC over body, whose first byte is the version: the
// two versions use distinct contexts.
func mac(key [32]byte, body []byte) [32]byte {
	m := hmac.New(sha256.New, key[:])
	if len(body) > 0 && body[0] == WriterVersion {
		m.Write(writerMACContext)
	} else {
		m.Write(macContext)
	}
	m.Write(body)
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// WriteKey derives the write key of key ID keyID from the account's
// journal key: HKDF-SHA-256(ikm = journal key, salt = key ID,
// info = "nuage v1 share write") (spec §9).
func WriteKey(journalKey [32]byte, keyID ID) [32]byte {
	out, err := hkdf.Key(sha256.New, journalKey[:], keyID[:], writeKeyLabel, 32)
	if err != nil {
		// hkdf.Key fails only for outputs above 255 hash blocks or, in
		// FIPS 140-only mode, secrets shorter than 112 bits; neither can
		// happen with a 32-byte secret and a 32-byte output.
		panic("journal: HKDF-SHA-256 failed on a 32-byte key: " + err.Error())
	}
	return [32]byte(out)
}

// Seal computes the record's MAC under key and returns its encoding. For an
// owner record key is the journal key; for a writer record it is the write
// key (WriteKey of the journal key and r.KeyID).
func (r *Record) Seal(key [32]byte) []byte {
	body := r.body()
	r.MAC = mac(key, body)
	return append(body, r.MAC[:]...)
}

// Marshal returns the encoding of a sealed record.
func (r *Record) Marshal() []byte { return append(r.body(), r.MAC[:]...) }

// Verify checks the record's MAC under key (the journal key for an owner
// record, the write key for a writer record) in constant time.
func (r *Record) Verify(key [32]byte) error {
	want := mac(key, r.body())
	if subtle.ConstantTimeCompare(want[:], r.MAC[:]) != 1 {
		return fmt.Errorf("%w: seq %d", ErrMAC, r.Seq)
	}
	return nil
}

// Hash returns the chain hash of an encoded record.
func Hash(encoded []byte) [32]byte { return sha256.Sum256(encoded) }

// dupError reports a record that changes one ID twice. The spec forbids it
// as a matter of structure (ErrMalformed); it also matches ErrState, which
// is what Apply reported for it before Parse checked it (and what the
// vectors name).
type dupError struct {
	seq uint64
	id  ID
}

func (e *dupError) Error() string {
	return fmt.Sprintf("%v: seq %d changes %s twice", ErrMalformed, e.seq, e.id)
}

// Is makes errors.Is true for ErrMalformed and ErrState.
func (e *dupError) Is(target error) bool { return target == ErrMalformed || target == ErrState }

// Parse decodes a record of either version. It checks structure only: the
// version, the length, each op and which of its fields must be zero, that
// no ID is changed twice, and that a writer record names a key and only
// puts and deletes. Verify checks the MAC; State.Apply everything else.
func Parse(b []byte) (Record, error) {
	var r Record
	if len(b) < headerSize+macSize {
		return r, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	hs := headerSize
	switch b[0] {
	case Version:
	case WriterVersion:
		hs = writerHeaderSize
		if len(b) < hs+macSize {
			return r, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
		}
		copy(r.KeyID[:], b[49:65])
		if !r.Writer() {
			return r, fmt.Errorf("%w: writer record with a zero key ID", ErrMalformed)
		}
	default:
		return r, fmt.Errorf("%w: version %d", ErrMalformed, b[0])
	}
	r.Seq = binary.BigEndian.Uint64(b[1:9])
	copy(r.Prev[:], b[9:41])
	r.Time = time.Unix(int64(binary.BigEndian.Uint64(b[41:49])), 0)
	n := binary.BigEndian.Uint32(b[hs-4 : hs])
	if r.Seq == 0 || n == 0 || n > MaxChanges || len(b) != hs+int(n)*changeSize+macSize {
		return r, fmt.Errorf("%w: seq %d with %d changes in %d bytes", ErrMalformed, r.Seq, n, len(b))
	}
	r.Changes = make([]Change, n)
	p := b[hs:]
	for i := range r.Changes {
		c := &r.Changes[i]
		c.Op = Op(p[0])
		copy(c.Entry[:], p[1:17])
		copy(c.Parent[:], p[17:33])
		copy(c.Hash[:], p[33:65])
		if err := checkChange(c, r.Writer()); err != nil {
			return r, err
		}
		p = p[changeSize:]
	}
	copy(r.MAC[:], p)
	if r.Seq == 1 && r.Prev != ([32]byte{}) {
		return r, fmt.Errorf("%w: first record with a previous hash", ErrMalformed)
	}
	if id, dup := duplicate(r.Changes); dup {
		return r, &dupError{r.Seq, id}
	}
	return r, nil
}

// checkChange checks one change's op and zero fields.
func checkChange(c *Change, writer bool) error {
	zeroParent, zeroHash := c.Parent == (ID{}), c.Hash == ([32]byte{})
	switch c.Op {
	case Put:
		if zeroHash {
			return fmt.Errorf("%w: put of %s without a hash", ErrMalformed, c.Entry)
		}
	case Delete:
		if !zeroParent || !zeroHash {
			return fmt.Errorf("%w: delete of %s carries a parent or hash", ErrMalformed, c.Entry)
		}
	case Grant, Revoke:
		if writer {
			return fmt.Errorf("%w: op %d in a writer record", ErrMalformed, c.Op)
		}
		if !zeroHash || zeroParent != (c.Op == Revoke) {
			return fmt.Errorf("%w: op %d of key %s: a grant names a folder, a revoke none, neither a hash", ErrMalformed, c.Op, c.Entry)
		}
	default:
		return fmt.Errorf("%w: unknown op %d", ErrMalformed, c.Op)
	}
	if c.Entry == (ID{}) {
		return fmt.Errorf("%w: zero entry ID", ErrMalformed)
	}
	return nil
}

// duplicate returns an ID that two changes name, if any.
func duplicate(cs []Change) (ID, bool) {
	if len(cs) <= 16 {
		for i := range cs {
			for j := i + 1; j < len(cs); j++ {
				if cs[i].Entry == cs[j].Entry {
					return cs[i].Entry, true
				}
			}
		}
		return ID{}, false
	}
	ids := make([]ID, len(cs))
	for i := range cs {
		ids[i] = cs[i].Entry
	}
	slices.SortFunc(ids, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return ids[i], true
		}
	}
	return ID{}, false
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

// State is the tree as the journal describes it, up to record Seq, and the
// write keys granted in it.
//
// Entries, WriteKeys and Granted are read-only for callers: change a State
// only with Apply or UnmarshalBinary, which keep its index of children
// consistent. A State is not safe for concurrent use.
type State struct {
	Seq     uint64
	Head    [32]byte // Hash of record Seq's encoding
	Entries map[ID]EntryState
	// WriteKeys maps each active write key ID to the folder it was
	// granted for.
	WriteKeys map[ID]ID
	// Granted holds every key ID ever granted, active or revoked: a key
	// ID is never granted twice.
	Granted map[ID]struct{}

	kids map[ID]map[ID]struct{} // parent → children; built on first use
}

// NewState returns the state before the first record.
func NewState() *State {
	return &State{Entries: make(map[ID]EntryState), WriteKeys: make(map[ID]ID), Granted: make(map[ID]struct{})}
}

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

// within reports whether id is root or a descendant of root, looking
// entries up with get. The walk is bounded by limit steps, so a cycle ends
// it (with false).
func within(id, root ID, limit int, get func(ID) (EntryState, bool)) bool {
	for range limit {
		if id == root {
			return true
		}
		e, ok := get(id)
		if !ok || e.Parent == (ID{}) {
			return false
		}
		id = e.Parent
	}
	return false
}

// Within reports whether the entry id is root or one of root's
// descendants. An ID the state does not hold is within nothing.
func (s *State) Within(id, root ID) bool {
	if _, ok := s.Entries[id]; !ok {
		return false
	}
	return within(id, root, len(s.Entries)+1, func(x ID) (EntryState, bool) {
		e, ok := s.Entries[x]
		return e, ok
	})
}

// Apply verifies an encoded record against the state and applies it. An
// owner record must authenticate under journalKey; a writer record must
// name an active write key (else ErrWriteKey) and authenticate under its
// write key, derived from journalKey, and every change it makes must stay
// strictly inside the key's folder (spec §9). On error the state is
// unchanged. Its cost is proportional to the number of changes in the
// record (times the depth of the tree for the cycle and confinement
// checks), not to the size of the tree.
func (s *State) Apply(encoded []byte, journalKey [32]byte) error {
	r, err := Parse(encoded)
	if err != nil {
		return err
	}
	key := journalKey
	var folder ID // a writer record's folder F
	if r.Writer() {
		f, ok := s.WriteKeys[r.KeyID]
		if !ok {
			why := "was never granted"
			if _, ever := s.Granted[r.KeyID]; ever {
				why = "is revoked"
			}
			return fmt.Errorf("%w: seq %d names write key %s, which %s", ErrWriteKey, r.Seq, r.KeyID, why)
		}
		folder, key = f, WriteKey(journalKey, r.KeyID)
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
	// Filled in the record's order, it is also the tree "as the record's
	// changes apply in order" that a grant's folder and a writer's put
	// parents are checked in. An existing entry a writer puts or deletes
	// must have been inside F before the record ("already"): the record
	// may delete a folder before its children, as an owner's may. (The
	// difference is only one of order: no change can move an entry into
	// F, or out of it.)
	after := make(map[ID]*EntryState, len(r.Changes))
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
	limit := len(s.Entries) + len(r.Changes) + 1
	prior := func(id ID) (EntryState, bool) { e, ok := s.Entries[id]; return e, ok }
	// wasInside reports whether id was strictly inside F before the record.
	wasInside := func(id ID) bool { return id != folder && within(id, folder, limit, prior) }
	var grants map[ID]ID
	var revokes []ID
	for i := range r.Changes {
		c := &r.Changes[i]
		// Parse refused a record that names an ID twice, so s.Entries
		// holds c.Entry's state before this change.
		old, exists := s.Entries[c.Entry]
		switch c.Op {
		case Put:
			if r.Writer() {
				switch {
				case c.Entry == folder:
					return fmt.Errorf("%w: seq %d (writer) puts the shared folder %s itself", ErrState, r.Seq, folder)
				case exists && !wasInside(c.Entry):
					return fmt.Errorf("%w: seq %d (writer) puts %s, which is not inside the shared folder %s", ErrState, r.Seq, c.Entry, folder)
				case !within(c.Parent, folder, limit, lookup):
					return fmt.Errorf("%w: seq %d (writer) puts %s under %s, outside the shared folder %s", ErrState, r.Seq, c.Entry, c.Parent, folder)
				}
			}
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
			if r.Writer() {
				switch {
				case c.Entry == folder:
					return fmt.Errorf("%w: seq %d (writer) deletes the shared folder %s itself", ErrState, r.Seq, folder)
				case !wasInside(c.Entry):
					return fmt.Errorf("%w: seq %d (writer) deletes %s, which is not inside the shared folder %s", ErrState, r.Seq, c.Entry, folder)
				}
			}
			after[c.Entry] = nil
		case Grant:
			if _, ever := s.Granted[c.Entry]; ever {
				return fmt.Errorf("%w: seq %d grants write key %s a second time", ErrState, r.Seq, c.Entry)
			}
			if f, ok := lookup(c.Parent); !ok || f.Parent == (ID{}) {
				return fmt.Errorf("%w: seq %d grants write key %s for %s, which is not an existing folder below the top level", ErrState, r.Seq, c.Entry, c.Parent)
			}
			if grants == nil {
				grants = make(map[ID]ID)
			}
			grants[c.Entry] = c.Parent
		case Revoke:
			if _, ok := s.WriteKeys[c.Entry]; !ok {
				return fmt.Errorf("%w: seq %d revokes write key %s, which is not active", ErrState, r.Seq, c.Entry)
			}
			revokes = append(revokes, c.Entry)
		}
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

	// Every check passed: change the state.
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
	if len(grants) > 0 {
		if s.WriteKeys == nil {
			s.WriteKeys = make(map[ID]ID)
		}
		if s.Granted == nil {
			s.Granted = make(map[ID]struct{})
		}
		for k, f := range grants {
			s.WriteKeys[k] = f
			s.Granted[k] = struct{}{}
		}
	}
	for _, k := range revokes {
		delete(s.WriteKeys, k)
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
	c := &State{Seq: s.Seq, Head: s.Head,
		Entries:   make(map[ID]EntryState, len(s.Entries)),
		WriteKeys: make(map[ID]ID, len(s.WriteKeys)),
		Granted:   make(map[ID]struct{}, len(s.Granted)),
	}
	for k, v := range s.Entries {
		c.Entries[k] = v
	}
	for k, v := range s.WriteKeys {
		c.WriteKeys[k] = v
	}
	for k := range s.Granted {
		c.Granted[k] = struct{}{}
	}
	return c
}

// stateMagic starts a state encoding. Version 1 (without write keys) is
// refused: a client holding one replays the journal.
var stateMagic = []byte("nuage-jstate-v2\x00")

const (
	stateHeaderSize = 8 + 32 + 4 // seq, head, entry count
	stateEntrySize  = 16 + 16 + 32
	stateKeySize    = 16 + 16
)

func sortedIDs[V any](m map[ID]V) []ID {
	ids := make([]ID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b ID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

// MarshalBinary encodes the state for the client's local cache:
//
//	"nuage-jstate-v2" || 0x00 || seq || head
//	|| count || (id || parent || hash)*        entries, sorted by ID
//	|| count || (key ID || folder)*            active write keys, sorted by key ID
//	|| count || key ID*                        revoked write keys, sorted
func (s *State) MarshalBinary() ([]byte, error) {
	ids := sortedIDs(s.Entries)
	active := sortedIDs(s.WriteKeys)
	var revoked []ID
	for _, k := range sortedIDs(s.Granted) {
		if _, ok := s.WriteKeys[k]; !ok {
			revoked = append(revoked, k)
		}
	}
	b := make([]byte, 0, len(stateMagic)+stateHeaderSize+len(ids)*stateEntrySize+4+len(active)*stateKeySize+4+len(revoked)*16)
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
	b = binary.BigEndian.AppendUint32(b, uint32(len(active)))
	for _, k := range active {
		f := s.WriteKeys[k]
		b = append(b, k[:]...)
		b = append(b, f[:]...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(revoked)))
	for _, k := range revoked {
		b = append(b, k[:]...)
	}
	return b, nil
}

// stateReader reads a state encoding, remembering the first error.
type stateReader struct {
	b   []byte
	err error
}

func (r *stateReader) take(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = fmt.Errorf("%w: journal state length", ErrMalformed)
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// count reads a uint32 count of items of size bytes each and checks that
// they fit in what is left.
func (r *stateReader) count(size int) int {
	b := r.take(4)
	if b == nil {
		return 0
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n)*uint64(size) > uint64(len(r.b)) {
		r.err = fmt.Errorf("%w: journal state length", ErrMalformed)
		return 0
	}
	return int(n)
}

// UnmarshalBinary decodes a state written by MarshalBinary. It refuses an
// encoding that no sequence of valid records can produce: entries or keys
// out of order or repeated, a zero ID or hash, an entry under a missing
// folder, a cycle, a key both active and revoked, an active key for a
// top-level folder, or entries or keys without any record applied.
func (s *State) UnmarshalBinary(b []byte) error {
	if !bytes.HasPrefix(b, stateMagic) {
		return fmt.Errorf("%w: not a journal state (of this version)", ErrMalformed)
	}
	r := &stateReader{b: b[len(stateMagic):]}
	hdr := r.take(8 + 32)
	if hdr == nil {
		return r.err
	}
	seq := binary.BigEndian.Uint64(hdr[:8])
	head := [32]byte(hdr[8:40])
	n := r.count(stateEntrySize)
	m := make(map[ID]EntryState, n)
	var prev ID
	for i := 0; i < n; i++ {
		x := r.take(stateEntrySize)
		id, e := ID(x[:16]), EntryState{Parent: ID(x[16:32]), Hash: [32]byte(x[32:64])}
		if id == (ID{}) || e.Hash == ([32]byte{}) || (i > 0 && bytes.Compare(prev[:], id[:]) >= 0) {
			return fmt.Errorf("%w: journal state entry %d", ErrMalformed, i)
		}
		m[id] = e
		prev = id
	}
	nk := r.count(stateKeySize)
	keys := make(map[ID]ID, nk)
	granted := make(map[ID]struct{}, nk)
	for i := 0; i < nk; i++ {
		x := r.take(stateKeySize)
		k, f := ID(x[:16]), ID(x[16:32])
		if k == (ID{}) || f == (ID{}) || (i > 0 && bytes.Compare(prev[:], k[:]) >= 0) {
			return fmt.Errorf("%w: journal state write key %d", ErrMalformed, i)
		}
		if e, ok := m[f]; ok && e.Parent == (ID{}) {
			return fmt.Errorf("%w: journal state write key %s for a top-level folder", ErrMalformed, k)
		}
		keys[k], granted[k] = f, struct{}{}
		prev = k
	}
	nr := r.count(16)
	for i := 0; i < nr; i++ {
		k := ID(r.take(16))
		_, dup := granted[k]
		if k == (ID{}) || dup || (i > 0 && bytes.Compare(prev[:], k[:]) >= 0) {
			return fmt.Errorf("%w: journal state revoked key %d", ErrMalformed, i)
		}
		granted[k] = struct{}{}
		prev = k
	}
	if r.err != nil {
		return r.err
	}
	if len(r.b) != 0 {
		return fmt.Errorf("%w: journal state length", ErrMalformed)
	}
	if (seq == 0) != (head == [32]byte{}) || (seq == 0 && (n != 0 || len(granted) != 0)) {
		return fmt.Errorf("%w: journal state at seq %d", ErrMalformed, seq)
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
	s.Seq, s.Head, s.Entries, s.WriteKeys, s.Granted, s.kids = seq, head, m, keys, granted, nil
	return nil
}
