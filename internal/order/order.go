// Package order encodes, signs and checks the coordinator's orders and the
// nodes' receipts (docs/spec.md §5 and §6).
//
// An order authorises one transfer of one piece on one node until it
// expires. A receipt is a node's signed statement that a piece is durable.
package order

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/piece"
)

// Version is the only order and receipt version this package reads and writes.
const Version = 1

// Encoded sizes.
const (
	Size        = 194
	ReceiptSize = 161
	SerialSize  = 16
)

// MaxClockSkew is how far past its expiry an order is still accepted.
const MaxClockSkew = 60 * time.Second

// Header is the HTTP header that carries an order (unpadded base64url).
const Header = "Nuage-Order"

// Action is what an order allows.
type Action uint8

// Actions.
const (
	Put    Action = 1
	Get    Action = 2
	Delete Action = 3
)

func (a Action) String() string {
	switch a {
	case Put:
		return "PUT"
	case Get:
		return "GET"
	case Delete:
		return "DELETE"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Errors a node decides on. Check and Parse wrap them with detail.
var (
	ErrMalformed    = errors.New("order: malformed")
	ErrBadSignature = errors.New("order: bad signature")
	ErrExpired      = errors.New("order: expired")
	ErrUntrusted    = errors.New("order: signed by an untrusted coordinator")
	ErrWrongNode    = errors.New("order: issued for another node")
	ErrWrongPiece   = errors.New("order: issued for another piece")
	ErrWrongAction  = errors.New("order: wrong action")
)

var (
	orderContext   = []byte("nuage-order-v1\x00")
	receiptContext = []byte("nuage-receipt-v1\x00")
)

// Order authorises Action on piece Piece at node Node.
type Order struct {
	Action      Action
	Node        identity.ID
	Piece       piece.ID
	Size        uint64
	Expires     time.Time // whole seconds
	Serial      [SerialSize]byte
	Coordinator identity.ID
	Signature   [ed25519.SignatureSize]byte
}

// New returns an unsigned order with a random serial that expires after ttl.
func New(action Action, node identity.ID, p piece.ID, size uint64, ttl time.Duration) Order {
	o := Order{Action: action, Node: node, Piece: p, Size: size, Expires: time.Now().Add(ttl).Truncate(time.Second)}
	if _, err := rand.Read(o.Serial[:]); err != nil {
		panic("order: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return o
}

func (o *Order) body() []byte {
	b := make([]byte, 0, Size)
	b = append(b, Version, byte(o.Action))
	b = append(b, o.Node[:]...)
	b = append(b, o.Piece[:]...)
	b = binary.BigEndian.AppendUint64(b, o.Size)
	b = binary.BigEndian.AppendUint64(b, uint64(o.Expires.Unix()))
	b = append(b, o.Serial[:]...)
	b = append(b, o.Coordinator[:]...)
	return b
}

// Sign sets the coordinator and signature fields and returns the encoding.
func (o *Order) Sign(coordinator *identity.Identity) []byte {
	o.Coordinator = coordinator.ID()
	body := o.body()
	copy(o.Signature[:], coordinator.Sign(append(append([]byte{}, orderContext...), body...)))
	return append(body, o.Signature[:]...)
}

// Marshal returns the 194-byte encoding of a signed order.
func (o *Order) Marshal() []byte { return append(o.body(), o.Signature[:]...) }

// Parse decodes an order and verifies its signature under the coordinator
// key it names. Whether that coordinator is trusted is Check's business.
func Parse(b []byte) (Order, error) {
	var o Order
	if len(b) != Size {
		return o, fmt.Errorf("%w: %d bytes, want %d", ErrMalformed, len(b), Size)
	}
	if b[0] != Version {
		return o, fmt.Errorf("%w: version %d, want %d", ErrMalformed, b[0], Version)
	}
	o.Action = Action(b[1])
	if o.Action < Put || o.Action > Delete {
		return o, fmt.Errorf("%w: unknown action %d", ErrMalformed, b[1])
	}
	copy(o.Node[:], b[2:34])
	copy(o.Piece[:], b[34:66])
	o.Size = binary.BigEndian.Uint64(b[66:74])
	if o.Action == Delete && o.Size != 0 {
		return o, fmt.Errorf("%w: DELETE order with size %d", ErrMalformed, o.Size)
	}
	exp := int64(binary.BigEndian.Uint64(b[74:82]))
	o.Expires = time.Unix(exp, 0)
	copy(o.Serial[:], b[82:98])
	copy(o.Coordinator[:], b[98:130])
	copy(o.Signature[:], b[130:194])
	msg := append(append([]byte{}, orderContext...), b[:130]...)
	if !o.Coordinator.Verify(msg, o.Signature[:]) {
		return o, ErrBadSignature
	}
	return o, nil
}

// Check verifies that the order lets node self do action on piece p now,
// and that its coordinator is trusted (a nil trusted trusts nobody).
func (o *Order) Check(now time.Time, self identity.ID, action Action, p piece.ID, trusted func(identity.ID) bool) error {
	if trusted == nil || !trusted(o.Coordinator) {
		return fmt.Errorf("%w: %s", ErrUntrusted, o.Coordinator.Short())
	}
	if o.Action != action {
		return fmt.Errorf("%w: order is for %s, request is %s", ErrWrongAction, o.Action, action)
	}
	if o.Node != self {
		return fmt.Errorf("%w: %s", ErrWrongNode, o.Node.Short())
	}
	if o.Piece != p {
		return fmt.Errorf("%w: order names %s", ErrWrongPiece, o.Piece)
	}
	if now.After(o.Expires.Add(MaxClockSkew)) {
		return fmt.Errorf("%w at %s", ErrExpired, o.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// Receipt is a node's signed statement that it durably stores a piece.
type Receipt struct {
	Node      identity.ID
	Piece     piece.ID
	Size      uint64
	Serial    [SerialSize]byte
	StoredAt  time.Time // whole seconds
	Signature [ed25519.SignatureSize]byte
}

func (r *Receipt) body() []byte {
	b := make([]byte, 0, ReceiptSize)
	b = append(b, Version)
	b = append(b, r.Node[:]...)
	b = append(b, r.Piece[:]...)
	b = binary.BigEndian.AppendUint64(b, r.Size)
	b = append(b, r.Serial[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.StoredAt.Unix()))
	return b
}

// Sign sets Node and Signature and returns the 161-byte encoding.
func (r *Receipt) Sign(node *identity.Identity) []byte {
	r.Node = node.ID()
	body := r.body()
	copy(r.Signature[:], node.Sign(append(append([]byte{}, receiptContext...), body...)))
	return append(body, r.Signature[:]...)
}

// Marshal returns the encoding of a signed receipt.
func (r *Receipt) Marshal() []byte { return append(r.body(), r.Signature[:]...) }

// ParseReceipt decodes a receipt and verifies its signature under the node
// key it names. Callers compare Node, Piece, Size and Serial with what they expect.
func ParseReceipt(b []byte) (Receipt, error) {
	var r Receipt
	if len(b) != ReceiptSize {
		return r, fmt.Errorf("%w: receipt has %d bytes, want %d", ErrMalformed, len(b), ReceiptSize)
	}
	if b[0] != Version {
		return r, fmt.Errorf("%w: receipt version %d, want %d", ErrMalformed, b[0], Version)
	}
	copy(r.Node[:], b[1:33])
	copy(r.Piece[:], b[33:65])
	r.Size = binary.BigEndian.Uint64(b[65:73])
	copy(r.Serial[:], b[73:89])
	r.StoredAt = time.Unix(int64(binary.BigEndian.Uint64(b[89:97])), 0)
	copy(r.Signature[:], b[97:161])
	msg := append(append([]byte{}, receiptContext...), b[:97]...)
	if !r.Node.Verify(msg, r.Signature[:]) {
		return r, fmt.Errorf("%w: receipt", ErrBadSignature)
	}
	return r, nil
}

// Matches reports whether the receipt acknowledges exactly the order o.
func (r *Receipt) Matches(o *Order) bool {
	return r.Node == o.Node && r.Piece == o.Piece && r.Size == o.Size && bytes.Equal(r.Serial[:], o.Serial[:])
}
