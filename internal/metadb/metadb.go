// Package metadb is the coordinator's storage interface. Every
// implementation (sqlite now, PostgreSQL later) passes the shared suite in
// metadbtest. The coordinator keeps nothing but what is here, and nothing
// here is plaintext: names, sizes and keys of the user's files live only in
// the opaque Meta and WrappedKey blobs.
package metadb

import (
	"context"
	"errors"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/piece"
)

// Sentinel errors callers decide on. Implementations wrap them with %w.
var (
	ErrNotFound = errors.New("metadb: not found")
	ErrExists   = errors.New("metadb: already exists")
	// ErrConflict reports a state change that is not allowed from the
	// current state (deleting a non-empty folder, committing a committed
	// object, …).
	ErrConflict = errors.New("metadb: conflict")
)

// ID16 is a 16-byte random identifier (accounts, entries, objects).
type ID16 [16]byte

// Account is a user account. The coordinator stores only a verifier of the
// auth key, never a password or a key it could use.
type Account struct {
	ID               ID16
	Email            string // normalised (lower-case, trimmed)
	KDF              []byte // JSON-encoded KDF parameters, opaque here
	Verifier         []byte // HMAC-SHA-256(auth key, label), 32 bytes
	WrappedMasterKey []byte
	RootEntry        ID16
	TrashEntry       ID16
	// PublicKey is the account's X25519 public key; WrappedPrivateKey the
	// private key wrapped under the master key.
	PublicKey         []byte
	WrappedPrivateKey []byte
	// SigningKey is the account's Ed25519 public key; WrappedSigningKey
	// its seed wrapped under the master key. Both empty until set.
	SigningKey        []byte
	WrappedSigningKey []byte
	// RecoveryVerifier and RecoveryWrap are empty until a recovery key is exported.
	RecoveryVerifier []byte
	RecoveryWrap     []byte
	// TOTPSecret is empty unless two-factor login is on; TOTPLastStep is
	// the last time step accepted (a step is accepted once).
	TOTPSecret   []byte
	TOTPLastStep int64
	Created      time.Time
}

// Token is an API token of an account, stored by the verifier of its auth key.
type Token struct {
	ID               ID16
	Account          ID16
	Name             string
	Verifier         []byte
	WrappedMasterKey []byte
	Created          time.Time
	LastUsed         time.Time // zero if never used
}

// JournalRecord is one record of an account's journal (docs/spec.md §9),
// opaque here but for its sequence number and chain hash.
type JournalRecord struct {
	Seq     uint64
	Hash    [32]byte // SHA-256 of Data
	Data    []byte
	Created time.Time
	// Grants and Revokes are the write-key changes the record makes
	// (spec §9 ops 3 and 4), applied by Commit with it. They are not
	// stored as part of the record (they are inside Data) and are empty
	// in records read back.
	Grants  []WriteKey
	Revokes []ID16
}

// WriteKey is a write key granted in an account's journal for one shared
// folder (spec §9, §11.3). Only its ID is known to the coordinator.
type WriteKey struct {
	ID   ID16
	Root ID16 // the folder it was granted for
	// Active is false once the key is revoked.
	Active bool
}

// Usage is what an account stores.
type Usage struct {
	Bytes   int64 // ciphertext bytes of committed objects
	Files   int64
	Folders int64 // not counting the root and trash folders
}

// Session is a login session, stored by the SHA-256 of its bearer token.
type Session struct {
	TokenHash [32]byte
	Account   ID16
	Expires   time.Time
	// A scoped session (link or share, spec §8) acts as Account restricted
	// to the subtree of Root; zero Root means the whole account. Write is
	// set for read-write share sessions; Share or Link names what the
	// session was opened for (at most one is set). Downloaded records
	// whether a link session was counted as a download.
	Root       ID16
	Write      bool
	Share      ID16
	Link       ID16
	Downloaded bool
	// Opener is the recipient who opened a share session (zero for other
	// sessions): ending the recipient's sessions ends it too.
	Opener ID16
}

// Link is a public link to an entry of an account (spec §10). Every key
// field is a wrap the coordinator cannot open.
type Link struct {
	ID               ID16
	Account          ID16
	Target           ID16
	Created          time.Time
	Expires          time.Time // zero: never
	MaxDownloads     int64     // 0: unlimited
	Downloads        int64
	Revoked          time.Time // zero: not revoked
	Verifier         []byte
	KDF              []byte // JSON LinkKDF; nil without a password
	WrappedLinkKey   []byte
	WrappedTargetKey []byte
	OwnerLinkKey     []byte
	OwnerSecret      []byte
}

// Share is a folder of Owner shared with Recipient (spec §11).
type Share struct {
	ID        ID16
	Owner     ID16
	Root      ID16
	Recipient ID16
	Write     bool
	KeyID     ID16 // zero for read-only shares
	Epoch     uint32
	Sealed    []byte
	Created   time.Time
	Updated   time.Time
}

// Kind of an entry.
type Kind string

const (
	KindFolder Kind = "folder"
	KindFile   Kind = "file"
)

// Entry is a folder or file in a user's tree, as the coordinator sees it:
// IDs and opaque blobs. Parent is zero for the root folder.
type Entry struct {
	ID         ID16
	Account    ID16
	Parent     ID16
	Kind       Kind
	NameTag    []byte // HMAC of the name under the parent's key; unique per parent
	WrappedKey []byte
	Meta       []byte
	Objects    []ID16 // stored objects the file references (none for folders and inline files)
	Created    time.Time
	Updated    time.Time
}

// ObjectState is the life cycle of a stored object.
type ObjectState string

const (
	ObjectPending   ObjectState = "pending"   // upload in progress
	ObjectCommitted ObjectState = "committed" // sealed, may be referenced by an entry
)

// Object is an encrypted, segmented, erasure-coded blob.
type Object struct {
	ID       ID16
	Account  ID16
	State    ObjectState
	Size     int64 // ciphertext bytes over all segments
	Segments int
	Created  time.Time
}

// Segment is one erasure-coded segment of an object.
type Segment struct {
	Object    ID16
	Index     int
	Size      int64 // ciphertext bytes of the segment
	PieceSize int64
	K, N      int
	Hashes    []piece.ID // expected piece ID of piece j, len N
	Committed bool
}

// Piece is a stored piece: piece Index of a segment, on Node, with the
// node's signed receipt.
type Piece struct {
	Object  ID16
	Segment int
	Index   int
	Node    identity.ID
	ID      piece.ID
	Size    int64
	Receipt []byte
}

// Node is a storage node known to the coordinator.
type Node struct {
	ID       identity.ID
	Address  string // host:port of its HTTPS endpoint
	Capacity int64
	Used     int64
	LastSeen time.Time
	Created  time.Time
}

// Deletion is a piece a node must delete.
type Deletion struct {
	Node     identity.ID
	Piece    piece.ID
	Queued   time.Time
	Attempts int
}

// DB is the coordinator's storage. All methods are safe for concurrent use.
//
// Durability: a write is on stable storage when it returns, except
// PutSegment and CommitSegment, the two writes of every segment of an
// upload, which may be lost in a crash until the next durable write (the
// upload's CommitObject, or any other) returns: writes become durable in
// the order they returned, so a crash loses a suffix of them, never one in
// the middle. A client finds a lost segment missing (CommittedSegments,
// CommitObject's ErrConflict) and uploads it again. PendingDeletions
// returns only durable deletions, since pieces are deleted on their
// strength.
type DB interface {
	// Accounts.
	// CreateAccount stores the account, its root and trash folders and
	// journal record 1 atomically. ErrExists on a duplicate e-mail or ID.
	CreateAccount(ctx context.Context, a Account, root, trash Entry, first JournalRecord) error
	AccountByEmail(ctx context.Context, email string) (Account, error)
	AccountByID(ctx context.Context, id ID16) (Account, error)
	// SetPassword replaces the KDF parameters, the verifier and the wrapped master key.
	SetPassword(ctx context.Context, account ID16, kdf, verifier, wrappedMasterKey []byte) error
	// SetRecovery stores (or replaces) the recovery verifier and wrap.
	SetRecovery(ctx context.Context, account ID16, verifier, wrap []byte) error
	// SetTOTP sets the TOTP secret (nil turns two-factor login off) and resets the last step.
	SetTOTP(ctx context.Context, account ID16, secret []byte) error
	// UseTOTPStep records that step was used; ErrConflict if step is not
	// after the last one used (a code works once).
	UseTOTPStep(ctx context.Context, account ID16, step int64) error
	// SetSigningKey sets the account's Ed25519 key pair; ErrExists if it
	// already has one (a key is never replaced this way).
	SetSigningKey(ctx context.Context, account ID16, pub, wrapped []byte) error

	// API tokens.
	CreateToken(ctx context.Context, t Token) error // ErrExists on a duplicate ID or (account, name)
	Token(ctx context.Context, id ID16) (Token, error)
	Tokens(ctx context.Context, account ID16) ([]Token, error) // ordered by Created
	DeleteToken(ctx context.Context, account, id ID16) error   // ErrNotFound if absent or another account's
	TouchToken(ctx context.Context, id ID16, used time.Time) error

	// Sessions.
	CreateSession(ctx context.Context, s Session) error
	SessionByToken(ctx context.Context, tokenHash [32]byte) (Session, error) // ErrNotFound if absent or expired
	DeleteSession(ctx context.Context, tokenHash [32]byte) error
	// DeleteSessions deletes every session of the account except keep
	// (a zero keep deletes them all) and returns how many it deleted:
	// its logins, the sessions opened for its links, and the share
	// sessions it opened (as Opener) on other accounts' folders — but not
	// the share sessions other accounts opened on its folders.
	DeleteSessions(ctx context.Context, account ID16, keep [32]byte) (int, error)
	// DeleteShareSessions and DeleteLinkSessions end every session opened
	// for the share or link.
	DeleteShareSessions(ctx context.Context, share ID16) error
	DeleteLinkSessions(ctx context.Context, link ID16) error
	// MarkDownloaded counts a link session as a download of its link, once:
	// if the session is already counted it does nothing; if the link's
	// MaxDownloads would be exceeded it returns ErrConflict and counts
	// nothing. Both in one transaction.
	MarkDownloaded(ctx context.Context, tokenHash [32]byte) error

	// Links.
	CreateLink(ctx context.Context, l Link) error // ErrExists on a duplicate ID
	// Link returns any account's link by ID (links are opened without an account).
	Link(ctx context.Context, id ID16) (Link, error)
	Links(ctx context.Context, account ID16) ([]Link, error) // ordered by Created, then ID
	// RevokeLink sets Revoked (if not set yet) and ends the link's
	// sessions; ErrNotFound if absent or another account's.
	RevokeLink(ctx context.Context, account, id ID16, at time.Time) error
	// SetLinkTargetKey replaces the target-key wrap; ErrNotFound if absent or another account's.
	SetLinkTargetKey(ctx context.Context, account, id ID16, wrapped []byte) error

	// Shares.
	// CreateShare stores a share; ErrExists on a duplicate ID or (Owner,
	// Root, Recipient).
	CreateShare(ctx context.Context, s Share) error
	Share(ctx context.Context, id ID16) (Share, error)
	SharesByOwner(ctx context.Context, owner ID16) ([]Share, error)         // ordered by Created, then ID
	SharesByRecipient(ctx context.Context, recipient ID16) ([]Share, error) // ordered by Created, then ID
	// UpdateShare replaces Write, KeyID, Epoch and Sealed (and Updated);
	// ErrNotFound if absent or not owner's.
	UpdateShare(ctx context.Context, owner ID16, s Share) error
	// DeleteShare removes the share and ends its sessions; ErrNotFound if
	// absent or not owner's.
	DeleteShare(ctx context.Context, owner, id ID16) error

	// WriteKey returns a write key granted in the account's journal
	// (active or revoked); ErrNotFound if never granted.
	WriteKey(ctx context.Context, account, id ID16) (WriteKey, error)

	// Entries. All are scoped to one account: an entry of another account is ErrNotFound.
	Entry(ctx context.Context, account, id ID16) (Entry, error)
	Children(ctx context.Context, account, parent ID16) ([]Entry, error) // ordered by ID
	// ChildrenAt is Children together with the seq of the latest journal
	// record, both read from one snapshot: the listing is exactly the
	// folder's state after that record.
	ChildrenAt(ctx context.Context, account, parent ID16) ([]Entry, uint64, error)
	// Ancestors returns the IDs of the folders above entry id, its parent
	// first and its top-level folder last (empty for a top-level folder),
	// reading at most max of them (ErrConflict if there are more).
	// ErrNotFound if id is not an entry of the account.
	Ancestors(ctx context.Context, account, id ID16, max int) ([]ID16, error)
	// EntriesWithObject lists the entries of the account that reference
	// object (as current content or older version), ordered by ID.
	EntriesWithObject(ctx context.Context, account, object ID16) ([]ID16, error)

	// Journal.
	// Commit appends rec to the account's journal and applies its entries
	// in one transaction: puts create or replace entries (same kind),
	// then deletes remove entries in the order given. It fails with
	// ErrConflict, changing nothing, if rec.Seq is not the latest seq + 1
	// or prev is not the latest record's hash (the caller answers "stale");
	// with ErrExists on a (Parent, NameTag) clash; ErrNotFound if a parent
	// or a deleted entry is missing; ErrConflict if a parent is a file, a
	// folder deleted is not empty at that point, a kind changes, a
	// top-level folder is deleted, or an object referenced is not a
	// committed object of the account or is referenced by another entry.
	// Objects an entry stops referencing (and those of deleted files) are
	// deleted and their pieces queued for deletion. rec.Grants are stored
	// as active write keys (ErrExists if a key ID was granted before) and
	// rec.Revokes deactivate keys (ErrNotFound unless active), in the same
	// transaction.
	Commit(ctx context.Context, account ID16, rec JournalRecord, prev [32]byte, puts []Entry, deletes []ID16) error
	// Journal returns up to limit records with Seq > after, in order.
	Journal(ctx context.Context, account ID16, after uint64, limit int) ([]JournalRecord, error)
	// JournalHead returns the latest seq and its hash (0 and zero if none).
	JournalHead(ctx context.Context, account ID16) (uint64, [32]byte, error)

	// Objects.
	CreateObject(ctx context.Context, o Object) error
	Object(ctx context.Context, account, id ID16) (Object, error)
	// PutSegment declares (or re-declares, while uncommitted) a segment of
	// a pending object. It is durable only once a later write is (see DB).
	PutSegment(ctx context.Context, account ID16, s Segment) error
	// CommitSegment records the stored pieces of a declared segment and
	// marks it committed. It replaces any pieces recorded before. It is
	// durable only once a later write is (see DB).
	CommitSegment(ctx context.Context, account, object ID16, index int, pieces []Piece) error
	// CommitObject seals a pending object whose segments 0..segments-1
	// are all committed; when it returns, they are durable too.
	CommitObject(ctx context.Context, account, object ID16, segments int, size int64) error
	Segments(ctx context.Context, account, object ID16, from, count int) ([]Segment, error)
	Pieces(ctx context.Context, object ID16, segment int) ([]Piece, error) // ordered by Index
	// CommittedSegments lists the indexes of an object's committed segments, ascending.
	CommittedSegments(ctx context.Context, account, object ID16) ([]int, error)
	// DeleteObject removes an object not referenced by any entry and
	// queues its pieces for deletion (pending uploads abandoned by a client).
	DeleteObject(ctx context.Context, account, object ID16) error
	// StalePendingObjects lists pending objects created before cutoff.
	StalePendingObjects(ctx context.Context, cutoff time.Time, limit int) ([]Object, error)

	// Nodes.
	UpsertNode(ctx context.Context, n Node) error // keeps Created on update
	Nodes(ctx context.Context, seenSince time.Time) ([]Node, error)
	NodeByID(ctx context.Context, id identity.ID) (Node, error)

	// Deletions.
	QueueDeletions(ctx context.Context, ds []Deletion) error
	// PendingDeletions returns up to limit durable deletions queued for a
	// node, oldest first.
	PendingDeletions(ctx context.Context, node identity.ID, limit int) ([]Deletion, error)
	// DoneDeletions removes delivered deletions.
	DoneDeletions(ctx context.Context, node identity.ID, pieces []piece.ID) error
	// FailedDeletions bumps the attempt count.
	FailedDeletions(ctx context.Context, node identity.ID, pieces []piece.ID) error
	// NodesWithDeletions lists nodes that have pending deletions.
	NodesWithDeletions(ctx context.Context) ([]identity.ID, error)

	// Usage reports what an account stores.
	Usage(ctx context.Context, account ID16) (Usage, error)

	Close() error
}
