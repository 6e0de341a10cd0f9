// Package api holds the JSON bodies of the coordinator's HTTP API
// (docs/spec.md §8). Binary values are base64 ([]byte fields) and IDs are
// hex strings. Both the coordinator and the client use these types, so the
// two cannot drift apart.
package api

import (
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/piece"
)

// Prefix is the path prefix of every API call.
const Prefix = "/api/v1"

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Hint  string `json:"hint,omitempty"`
	// RetryAfter, in seconds, for rate-limited calls.
	RetryAfter int `json:"retry_after,omitempty"`
}

// Error codes.
const (
	CodeBadRequest     = "bad_request"
	CodeUnauthorized   = "unauthorized"
	CodeNotFound       = "not_found"
	CodeExists         = "exists"
	CodeConflict       = "conflict"
	CodeNotEnoughNodes = "not_enough_nodes"
	CodeTooMany        = "too_many_requests"
	CodeInternal       = "internal"
	CodeBadOrder       = "bad_order"
	CodeBadPiece       = "bad_piece"
	CodeNoSpace        = "no_space"
	CodeTOTPRequired   = "totp_required"  // login needs a two-factor code
	CodeStale          = "stale"          // journal record does not follow the latest (sync and retry)
	CodeQuotaExceeded  = "quota_exceeded" // the account's quota would be exceeded
	CodeOutOfScope     = "out_of_scope"   // a link or share session asked for something outside its subtree
	CodeLinkAuth       = "link_auth"      // wrong link password (or damaged link secret)
	CodeLinkRevoked    = "link_revoked"   // 410: the owner revoked the link
	CodeLinkExpired    = "link_expired"   // 410: the link's expiry passed
	CodeLinkExhausted  = "link_exhausted" // 410: the link's download limit is reached
	CodeLinkGone       = "link_gone"      // 410: the link's target was deleted
)

// Scheme is an erasure-coding scheme: any K of N pieces rebuild a segment.
type Scheme struct {
	K int `json:"k"`
	N int `json:"n"`
	// Success is how many pieces of a segment a client stores before it
	// cancels the slowest remaining uploads (long-tail cut). Zero means N.
	Success int `json:"success,omitempty"`
}

// Info answers GET /info.
type Info struct {
	Version     string      `json:"version"`
	Coordinator identity.ID `json:"coordinator"`
	Scheme      Scheme      `json:"scheme"`
	SegmentSize int64       `json:"segment_size"`
	InlineMax   int64       `json:"inline_max"`
}

// KDF are the password-hashing parameters stored with an account.
type KDF struct {
	Alg       string `json:"alg"` // "argon2id"
	Salt      []byte `json:"salt"`
	Time      uint32 `json:"t"`
	MemoryKiB uint32 `json:"m"`
	Threads   uint8  `json:"p"`
}

// PreloginRequest asks for an account's KDF parameters.
type PreloginRequest struct {
	Email string `json:"email"`
}

// PreloginResponse answers /prelogin.
type PreloginResponse struct {
	KDF KDF `json:"kdf"`
}

// Entry is a folder or file as stored by the coordinator.
type Entry struct {
	ID         string `json:"id"`
	Parent     string `json:"parent,omitempty"` // empty for the root
	Kind       string `json:"kind"`             // "folder" or "file"
	NameTag    []byte `json:"name_tag,omitempty"`
	WrappedKey []byte `json:"wrapped_key"`
	Meta       []byte `json:"meta"`
	// Objects are the stored objects the entry references (a file's
	// current content and older versions), hex IDs.
	Objects []string `json:"objects,omitempty"`
	Created int64    `json:"created,omitempty"` // Unix seconds, set by the coordinator
	Updated int64    `json:"updated,omitempty"`
}

// SignupRequest creates an account with its root folder.
type SignupRequest struct {
	Email            string `json:"email"`
	Account          string `json:"account"` // account ID chosen by the client (hex)
	KDF              KDF    `json:"kdf"`
	AuthKey          []byte `json:"auth_key"`
	WrappedMasterKey []byte `json:"wrapped_master_key"`
	Root             Entry  `json:"root"`
	Trash            Entry  `json:"trash"`
	// PublicKey is the account's X25519 public key; WrappedPrivateKey its
	// private half wrapped under the master key (spec §2.3).
	PublicKey         []byte `json:"public_key"`
	WrappedPrivateKey []byte `json:"wrapped_private_key"`
	// SigningKey is the account's Ed25519 public key; WrappedSigningKey
	// its 32-byte seed wrapped under the master key (spec §2.3).
	SigningKey        []byte `json:"signing_key"`
	WrappedSigningKey []byte `json:"wrapped_signing_key"`
	// Journal is record 1 of the account's journal: it puts Root and Trash (spec §9).
	Journal []byte `json:"journal"`
}

// LoginRequest opens a session.
type LoginRequest struct {
	Email   string `json:"email"`
	AuthKey []byte `json:"auth_key"`
	TOTP    string `json:"totp,omitempty"`
}

// Session answers /signup and /login.
type Session struct {
	Token             string `json:"token"`
	Account           string `json:"account"`
	Email             string `json:"email"`
	KDF               KDF    `json:"kdf"`
	WrappedMasterKey  []byte `json:"wrapped_master_key"` // under the KEK, or the token KEK for token logins
	Root              Entry  `json:"root"`
	Trash             Entry  `json:"trash"`
	PublicKey         []byte `json:"public_key"`
	WrappedPrivateKey []byte `json:"wrapped_private_key"`
	// SigningKey and WrappedSigningKey are empty for an account created
	// before signing keys existed (the client sets them on first use).
	SigningKey        []byte `json:"signing_key,omitempty"`
	WrappedSigningKey []byte `json:"wrapped_signing_key,omitempty"`
	TOTP              bool   `json:"totp"`               // two-factor login is enabled
	TokenID           string `json:"token_id,omitempty"` // set for API-token logins
	Expires           int64  `json:"expires"`
}

// JournalRecords answers GET /journal?after=N: the records after seq N, in
// order, and the latest seq.
type JournalRecords struct {
	Records [][]byte `json:"records"`
	Latest  uint64   `json:"latest"`
}

// JournalCommit appends one record and applies its entries atomically.
type JournalCommit struct {
	Record  []byte   `json:"record"`
	Puts    []Entry  `json:"puts,omitempty"`
	Deletes []string `json:"deletes,omitempty"`
}

// PasswordChange replaces the password: proof of the current one, new
// KDF parameters, the new auth key and the master key wrapped under the new KEK.
type PasswordChange struct {
	AuthKey          []byte `json:"auth_key"`
	KDF              KDF    `json:"kdf"`
	NewAuthKey       []byte `json:"new_auth_key"`
	WrappedMasterKey []byte `json:"wrapped_master_key"`
}

// RecoverySet stores (or replaces) the account's recovery wrap.
type RecoverySet struct {
	AuthKey          []byte `json:"auth_key"` // HKDF(R, "nuage v1 recovery auth")
	WrappedMasterKey []byte `json:"wrapped_master_key"`
}

// RecoveryFetch asks for the recovery wrap, proving the recovery key.
type RecoveryFetch struct {
	Email   string `json:"email"`
	AuthKey []byte `json:"auth_key"`
	TOTP    string `json:"totp,omitempty"`
}

// RecoveryWrap answers /recovery/fetch.
type RecoveryWrap struct {
	Account          string `json:"account"`
	WrappedMasterKey []byte `json:"wrapped_master_key"`
}

// RecoveryReset sets a new password with the recovery key.
type RecoveryReset struct {
	Email            string `json:"email"`
	RecoveryAuthKey  []byte `json:"recovery_auth_key"`
	TOTP             string `json:"totp,omitempty"`
	KDF              KDF    `json:"kdf"`
	AuthKey          []byte `json:"auth_key"`
	WrappedMasterKey []byte `json:"wrapped_master_key"`
}

// TOTPEnable turns on two-factor login: the secret and a current code proving
// the user's authenticator has it.
type TOTPEnable struct {
	Secret []byte `json:"secret"`
	Code   string `json:"code"`
}

// TOTPDisable turns two-factor login off with a current code.
type TOTPDisable struct {
	Code string `json:"code"`
}

// TokenCreate registers an API token (spec §2.3).
type TokenCreate struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	AuthKey          []byte `json:"auth_key"`
	WrappedMasterKey []byte `json:"wrapped_master_key"`
}

// Token describes an API token.
type Token struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Created  int64  `json:"created"`
	LastUsed int64  `json:"last_used,omitempty"`
}

// Tokens answers GET /tokens.
type Tokens struct {
	Tokens []Token `json:"tokens"`
}

// TokenLogin opens a session with an API token.
type TokenLogin struct {
	ID      string `json:"id"`
	AuthKey []byte `json:"auth_key"`
}

// ObjectStatus answers GET /objects/{id}: the committed segments of an
// upload, so an interrupted upload can resume.
type ObjectStatus struct {
	Object    string `json:"object"`
	State     string `json:"state"`
	Committed []int  `json:"committed"`
}

// Children answers GET /entries/{id}/children.
type Children struct {
	Entries []Entry `json:"entries"`
	// Seq is the journal record the listing reflects: the folder's
	// children exactly as they are after record Seq (docs/spec.md §9).
	Seq uint64 `json:"seq"`
}

// ObjectCreated answers POST /objects.
type ObjectCreated struct {
	Object      string `json:"object"`
	Scheme      Scheme `json:"scheme"`
	SegmentSize int64  `json:"segment_size"`
}

// SegmentRequest declares a segment before its pieces are uploaded.
type SegmentRequest struct {
	Index     int        `json:"index"`
	Size      int64      `json:"size"`       // ciphertext bytes
	PieceSize int64      `json:"piece_size"` // bytes of every piece
	Pieces    []piece.ID `json:"pieces"`     // piece IDs, N of them, in shard order
}

// PieceOrder tells a client where piece Index goes (or comes from) and
// carries the signed order to present to the node.
type PieceOrder struct {
	Index   int         `json:"index"`
	Piece   piece.ID    `json:"piece"`
	Node    identity.ID `json:"node"`
	Address string      `json:"address"`
	Order   []byte      `json:"order"`
}

// SegmentOrders answers a segment declaration with one PUT order per piece.
type SegmentOrders struct {
	Orders []PieceOrder `json:"orders"`
}

// SegmentCommit hands the coordinator the receipts of the stored pieces.
type SegmentCommit struct {
	Receipts [][]byte `json:"receipts"`
}

// ObjectCommit seals an object.
type ObjectCommit struct {
	Segments int   `json:"segments"`
	Size     int64 `json:"size"`
}

// Segment is a committed segment with GET orders for its stored pieces.
type Segment struct {
	Index     int          `json:"index"`
	Size      int64        `json:"size"`
	PieceSize int64        `json:"piece_size"`
	K         int          `json:"k"`
	N         int          `json:"n"`
	Pieces    []PieceOrder `json:"pieces"`
}

// Segments answers GET /objects/{id}/segments.
type Segments struct {
	Segments []Segment `json:"segments"`
}

// CheckIn is a node's periodic check-in (docs/spec.md §7.1).
type CheckIn struct {
	Node      identity.ID `json:"node"`
	Address   string      `json:"address"`
	Capacity  int64       `json:"capacity"`
	Used      int64       `json:"used"`
	Time      int64       `json:"time"`
	Signature []byte      `json:"signature"`
}

// CheckInResponse answers a check-in.
type CheckInResponse struct {
	Coordinator identity.ID `json:"coordinator"`
}

// Usage answers GET /usage.
type Usage struct {
	Used    int64 `json:"used"`            // ciphertext bytes of committed objects
	Quota   int64 `json:"quota,omitempty"` // 0: unlimited
	Files   int64 `json:"files"`
	Folders int64 `json:"folders"`
}

// SigningKeySet sets an account's Ed25519 key pair if it has none
// (POST /account/signing-key).
type SigningKeySet struct {
	SigningKey        []byte `json:"signing_key"`
	WrappedSigningKey []byte `json:"wrapped_signing_key"`
}

// AccountKeys answers GET /accounts/keys?email= and GET /accounts/{id}/keys:
// what another user needs to share with the account (spec §11.1).
type AccountKeys struct {
	Account    string `json:"account"`
	Email      string `json:"email"`
	PublicKey  []byte `json:"public_key"`            // X25519
	SigningKey []byte `json:"signing_key,omitempty"` // Ed25519; empty until the account sets it
}

// JournalHead answers GET /journal/head.
type JournalHead struct {
	Seq  uint64 `json:"seq"`
	Head []byte `json:"head"` // SHA-256 of the latest record (32 bytes; empty if none)
}

// LinkKDF is the Argon2id parameters of a link password (spec §10).
type LinkKDF struct {
	Salt []byte `json:"salt"`
	T    uint32 `json:"t"`
	M    uint32 `json:"m"` // KiB
	P    uint8  `json:"p"`
}

// LinkCreate creates a link (POST /links). Times are Unix seconds; zero
// Expires and MaxDownloads mean none.
type LinkCreate struct {
	ID               string   `json:"id"`     // chosen by the client (hex)
	Target           string   `json:"target"` // entry ID (hex)
	Expires          int64    `json:"expires,omitempty"`
	MaxDownloads     int64    `json:"max_downloads,omitempty"`
	Verifier         []byte   `json:"verifier"`
	KDF              *LinkKDF `json:"kdf,omitempty"` // nil: no password
	WrappedLinkKey   []byte   `json:"wrapped_link_key"`
	WrappedTargetKey []byte   `json:"wrapped_target_key"`
	OwnerLinkKey     []byte   `json:"owner_link_key"`
	OwnerSecret      []byte   `json:"owner_secret"`
}

// Link is a link as its owner sees it (POST and GET /links).
type Link struct {
	ID               string `json:"id"`
	Target           string `json:"target"`
	Kind             string `json:"kind"` // the target's kind
	Created          int64  `json:"created"`
	Expires          int64  `json:"expires,omitempty"`
	MaxDownloads     int64  `json:"max_downloads,omitempty"`
	Downloads        int64  `json:"downloads"`
	Revoked          int64  `json:"revoked,omitempty"` // when, if revoked
	Password         bool   `json:"password"`
	WrappedTargetKey []byte `json:"wrapped_target_key"`
	OwnerLinkKey     []byte `json:"owner_link_key"`
	OwnerSecret      []byte `json:"owner_secret"`
}

// Links answers GET /links (ordered by creation).
type Links struct {
	Links []Link `json:"links"`
}

// LinkTargetKey replaces a link's target-key wrap (PUT /links/{id}/target-key).
type LinkTargetKey struct {
	WrappedTargetKey []byte `json:"wrapped_target_key"`
}

// LinkPrelude answers GET /links/{id}/prelude (no auth).
type LinkPrelude struct {
	Password bool     `json:"password"`
	KDF      *LinkKDF `json:"kdf,omitempty"`
}

// LinkOpen opens a link session (POST /links/{id}/open, no auth).
type LinkOpen struct {
	Auth     []byte `json:"auth"`               // the link auth key (32 bytes)
	Download bool   `json:"download,omitempty"` // count this session as a download now
}

// LinkSession answers LinkOpen: a read-only session scoped to the target.
type LinkSession struct {
	Token            string `json:"token"`
	Expires          int64  `json:"expires"` // of the session
	Owner            string `json:"owner"`   // the owner's account ID
	Target           string `json:"target"`
	Kind             string `json:"kind"`
	WrappedLinkKey   []byte `json:"wrapped_link_key"`
	WrappedTargetKey []byte `json:"wrapped_target_key"`
}

// ShareCreate creates a share (POST /shares).
type ShareCreate struct {
	ID        string `json:"id"`        // chosen by the client (hex)
	Root      string `json:"root"`      // the shared folder's entry ID
	Recipient string `json:"recipient"` // account ID
	Write     bool   `json:"write,omitempty"`
	KeyID     string `json:"key_id,omitempty"` // the write key (granted in the journal) for a read-write share
	Epoch     uint32 `json:"epoch"`
	Sealed    []byte `json:"sealed"` // the sealed share (spec §11.2)
}

// ShareUpdate replaces a share's level, write key and sealed share (PUT /shares/{id}).
type ShareUpdate struct {
	Write  bool   `json:"write,omitempty"`
	KeyID  string `json:"key_id,omitempty"`
	Epoch  uint32 `json:"epoch"`
	Sealed []byte `json:"sealed"`
}

// Share is a share as its owner or recipient sees it.
type Share struct {
	ID             string `json:"id"`
	Owner          string `json:"owner"`
	OwnerEmail     string `json:"owner_email"`
	Root           string `json:"root"`
	Recipient      string `json:"recipient"`
	RecipientEmail string `json:"recipient_email"`
	Write          bool   `json:"write"`
	KeyID          string `json:"key_id,omitempty"`
	Epoch          uint32 `json:"epoch"`
	Sealed         []byte `json:"sealed"`
	Created        int64  `json:"created"`
	Updated        int64  `json:"updated"`
}

// Shares answers GET /shares and GET /shares/incoming (ordered by creation).
type Shares struct {
	Shares []Share `json:"shares"`
}

// ShareSession answers POST /shares/{id}/session: a session scoped to the
// shared folder, read-write if the share is.
type ShareSession struct {
	Token   string `json:"token"`
	Expires int64  `json:"expires"`
	Write   bool   `json:"write"`
}
