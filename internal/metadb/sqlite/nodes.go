package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/metadb"
	"github.com/nuage-storage/nuage/internal/piece"
)

const nodeCols = `id, address, capacity, used, last_seen, created`

// UpsertNode registers a node or updates its address, capacity, use and
// last check-in, keeping the time it was first registered.
func (db *DB) UpsertNode(ctx context.Context, n metadb.Node) error {
	const op = "upsert node"
	if n.ID.IsZero() {
		return fmt.Errorf("sqlite: %s: %w: zero node ID", op, ErrInvalid)
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO nodes (`+nodeCols+`) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO UPDATE SET address = excluded.address, capacity = excluded.capacity,
	used = excluded.used, last_seen = excluded.last_seen`,
		n.ID[:], n.Address, n.Capacity, n.Used, encTime(n.LastSeen), encTime(n.Created))
	return wrap(op, err)
}

// Nodes returns the nodes that checked in at or after seenSince, ordered
// by ID.
func (db *DB) Nodes(ctx context.Context, seenSince time.Time) ([]metadb.Node, error) {
	const op = "nodes"
	rows, err := db.rs.query(ctx, nodesSeenQuery, encTime(seenSince))
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var ns []metadb.Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		ns = append(ns, n)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return ns, nil
}

// Queries of the nodes every segment's placement and commit make.
const (
	nodesSeenQuery = `SELECT ` + nodeCols + ` FROM nodes WHERE last_seen >= $1 ORDER BY id`
	nodeByIDQuery  = `SELECT ` + nodeCols + ` FROM nodes WHERE id = $1`
)

// NodeByID returns a node, or ErrNotFound.
func (db *DB) NodeByID(ctx context.Context, id identity.ID) (metadb.Node, error) {
	n, err := scanNode(db.rs.queryRow(ctx, nodeByIDQuery, id[:]))
	return n, wrap("node by ID", err)
}

func scanNode(row scanner) (metadb.Node, error) {
	var (
		n                 metadb.Node
		lastSeen, created int64
	)
	if err := row.Scan(scanNodeID(&n.ID), &n.Address, &n.Capacity, &n.Used, &lastSeen, &created); err != nil {
		return metadb.Node{}, err
	}
	n.LastSeen = decTime(lastSeen)
	n.Created = decTime(created)
	return n, nil
}

// QueueDeletions queues pieces for deletion from their nodes, in one
// transaction. A (node, piece) already queued keeps its queue time and
// attempts; one still referenced by a stored piece of some object is not
// queued, so that a node never deletes a piece an object needs. ErrNotFound
// if a node is unknown (nothing is queued then).
func (db *DB) QueueDeletions(ctx context.Context, ds []metadb.Deletion) error {
	const op = "queue deletions"
	for i := range ds {
		if ds[i].Attempts < 0 {
			return fmt.Errorf("sqlite: %s: %w: %d attempts", op, ErrInvalid, ds[i].Attempts)
		}
	}
	if len(ds) == 0 {
		return nil
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, queueDeletion)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range ds {
			d := &ds[i]
			if _, err := stmt.ExecContext(ctx, d.Node[:], d.Piece[:], encTime(d.Queued), d.Attempts); err != nil {
				return err
			}
		}
		return nil
	})
}

// PendingDeletions returns up to limit deletions queued for a node, oldest
// first. They are durable: a lazy CommitSegment that queued one and was
// then lost in a crash would otherwise have had a piece deleted that the
// database, rolled back, still references.
func (db *DB) PendingDeletions(ctx context.Context, node identity.ID, limit int) ([]metadb.Deletion, error) {
	const op = "pending deletions"
	if limit < 1 {
		return nil, fmt.Errorf("sqlite: %s: %w: limit %d", op, ErrInvalid, limit)
	}
	if err := db.syncWAL(); err != nil {
		return nil, wrap(op, err)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT piece_id, queued, attempts FROM deletions WHERE node = $1
ORDER BY queued, piece_id LIMIT $2`, node[:], limit)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var ds []metadb.Deletion
	for rows.Next() {
		var (
			d      = metadb.Deletion{Node: node}
			queued int64
		)
		if err := rows.Scan(scanPieceID(&d.Piece), &queued, &d.Attempts); err != nil {
			return nil, wrap(op, err)
		}
		d.Queued = decTime(queued)
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return ds, nil
}

// DoneDeletions removes delivered deletions of a node. Pieces not queued
// are ignored.
func (db *DB) DoneDeletions(ctx context.Context, node identity.ID, pieces []piece.ID) error {
	return db.eachPiece(ctx, "done deletions", `DELETE FROM deletions WHERE node = $1 AND piece_id = $2`, node, pieces)
}

// FailedDeletions adds one to the attempt count of deletions of a node.
// Pieces not queued are ignored.
func (db *DB) FailedDeletions(ctx context.Context, node identity.ID, pieces []piece.ID) error {
	return db.eachPiece(ctx, "failed deletions", `UPDATE deletions SET attempts = attempts + 1 WHERE node = $1 AND piece_id = $2`, node, pieces)
}

// eachPiece runs query with ($1 node, $2 piece ID) for each piece, in one
// transaction.
func (db *DB) eachPiece(ctx context.Context, op, query string, node identity.ID, pieces []piece.ID) error {
	if len(pieces) == 0 {
		return nil
	}
	return db.write(ctx, op, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := range pieces {
			if _, err := stmt.ExecContext(ctx, node[:], pieces[i][:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// NodesWithDeletions returns the nodes that have deletions queued, ordered
// by ID.
func (db *DB) NodesWithDeletions(ctx context.Context) ([]identity.ID, error) {
	const op = "nodes with deletions"
	// One index probe per node, rather than a scan of every deletion
	// queued (millions, when a big node is offline for days).
	rows, err := db.r.QueryContext(ctx, `SELECT id FROM nodes n
WHERE EXISTS (SELECT 1 FROM deletions d WHERE d.node = n.id) ORDER BY id`)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var ids []identity.ID
	for rows.Next() {
		var id identity.ID
		if err := rows.Scan(scanNodeID(&id)); err != nil {
			return nil, wrap(op, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return ids, nil
}
