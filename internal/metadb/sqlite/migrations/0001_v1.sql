-- nuage coordinator metadata, schema version 1.
--
-- Conventions (kept portable to PostgreSQL where it costs nothing; a
-- PostgreSQL port replaces BLOB with BYTEA and keeps the rest):
--   * IDs are BLOBs: accounts, entries and objects 16 bytes, nodes 32 bytes
--     (Ed25519 public key), pieces 32 bytes (BLAKE3-256), session tokens 32
--     bytes (SHA-256 of the bearer token).
--   * Times are BIGINT Unix nanoseconds (UTC). The zero time.Time is stored
--     as the smallest BIGINT, -9223372036854775808.
--   * Opaque client blobs (KDF parameters, wrapped keys, encrypted metadata,
--     name tags, receipts) are BLOBs the coordinator never interprets.
--   * Column "idx" is used for positions because INDEX is a reserved word.

CREATE TABLE accounts (
    id                  BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    email               TEXT    NOT NULL UNIQUE,
    kdf                 BLOB    NOT NULL,
    verifier            BLOB    NOT NULL,
    wrapped_master_key  BLOB    NOT NULL,
    -- The two top-level folders; created in the same transaction as the
    -- account, with journal record 1.
    root_entry          BLOB    NOT NULL CHECK (length(root_entry) = 16),
    trash_entry         BLOB    NOT NULL CHECK (length(trash_entry) = 16),
    -- X25519 public key in clear; the private key wrapped under the master key.
    public_key          BLOB    NOT NULL,
    wrapped_private_key BLOB    NOT NULL,
    -- NULL until a recovery key is exported.
    recovery_verifier   BLOB,
    recovery_wrap       BLOB,
    -- NULL unless two-factor login is on. totp_last_step is the last time
    -- step accepted: a step is accepted once, so steps only increase.
    totp_secret         BLOB,
    totp_last_step      BIGINT  NOT NULL DEFAULT 0,
    created             BIGINT  NOT NULL
);

-- API tokens, stored by the verifier of their auth key.
CREATE TABLE tokens (
    id                 BLOB   NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    account            BLOB   NOT NULL REFERENCES accounts (id),
    name               TEXT   NOT NULL,
    verifier           BLOB   NOT NULL,
    wrapped_master_key BLOB   NOT NULL,
    created            BIGINT NOT NULL,
    -- The smallest BIGINT (the zero time) until the token is first used.
    last_used          BIGINT NOT NULL,
    UNIQUE (account, name)
);
-- Tokens(account), ordered by creation without a sort.
CREATE INDEX tokens_account_created ON tokens (account, created, id);

-- The journal (docs/spec.md §9): one opaque record per change of an
-- account's tree, chained by hash. Record n+1 is appended only if record n
-- is the latest, in the transaction that applies its entries.
CREATE TABLE journal (
    account BLOB   NOT NULL REFERENCES accounts (id),
    seq     BIGINT NOT NULL CHECK (seq >= 1),
    -- SHA-256 of data: the prev of record seq+1.
    hash    BLOB   NOT NULL CHECK (length(hash) = 32),
    data    BLOB   NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (account, seq)
);

CREATE TABLE sessions (
    token_hash BLOB   NOT NULL PRIMARY KEY CHECK (length(token_hash) = 32),
    account    BLOB   NOT NULL REFERENCES accounts (id),
    expires    BIGINT NOT NULL
);
-- Purging expired sessions.
CREATE INDEX sessions_expires ON sessions (expires);

CREATE TABLE nodes (
    id        BLOB   NOT NULL PRIMARY KEY CHECK (length(id) = 32),
    address   TEXT   NOT NULL,
    capacity  BIGINT NOT NULL,
    used      BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    created   BIGINT NOT NULL
);
-- Nodes(seenSince).
CREATE INDEX nodes_last_seen ON nodes (last_seen);

CREATE TABLE objects (
    id       BLOB   NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    account  BLOB   NOT NULL REFERENCES accounts (id),
    state    TEXT   NOT NULL CHECK (state IN ('pending', 'committed')),
    size     BIGINT NOT NULL DEFAULT 0,
    segments BIGINT NOT NULL DEFAULT 0,
    created  BIGINT NOT NULL
);
-- Usage(account): a covering index for the sum of committed sizes.
CREATE INDEX objects_account_state ON objects (account, state, size);
-- StalePendingObjects(cutoff).
CREATE INDEX objects_state_created ON objects (state, created, id);

CREATE TABLE entries (
    id          BLOB   NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    account     BLOB   NOT NULL REFERENCES accounts (id),
    -- NULL for an account's two top-level folders (root and trash) only.
    -- Deferred: a commit replaces the rows of the entries it puts, and a
    -- folder's row is briefly absent while its children stay; the commit
    -- checks every parent itself before it ends.
    parent      BLOB   REFERENCES entries (id) DEFERRABLE INITIALLY DEFERRED,
    kind        TEXT   NOT NULL CHECK (kind IN ('folder', 'file')),
    name_tag    BLOB   NOT NULL,
    wrapped_key BLOB   NOT NULL,
    meta        BLOB   NOT NULL,
    created     BIGINT NOT NULL,
    updated     BIGINT NOT NULL
);
-- Names are unique per folder (name tags are HMACs of the names).
CREATE UNIQUE INDEX entries_parent_name_tag ON entries (parent, name_tag);
-- Children(account, parent), ordered by ID without a sort.
CREATE INDEX entries_account_parent ON entries (account, parent, id);
-- Usage(account): counts of files and folders from the index alone.
CREATE INDEX entries_account_kind ON entries (account, kind, parent);

-- The stored objects a file references (its content and older versions),
-- in the order the entry lists them. An object is a committed object of
-- the entry's account, referenced by at most one entry.
CREATE TABLE entry_objects (
    entry  BLOB   NOT NULL REFERENCES entries (id),
    idx    BIGINT NOT NULL CHECK (idx >= 0),
    object BLOB   NOT NULL UNIQUE REFERENCES objects (id),
    PRIMARY KEY (entry, idx)
);

CREATE TABLE segments (
    object     BLOB    NOT NULL REFERENCES objects (id),
    idx        BIGINT  NOT NULL CHECK (idx >= 0),
    size       BIGINT  NOT NULL CHECK (size > 0),
    piece_size BIGINT  NOT NULL CHECK (piece_size > 0),
    k          BIGINT  NOT NULL,
    n          BIGINT  NOT NULL,
    -- The expected piece IDs, n × 32 bytes concatenated in piece order.
    hashes     BLOB    NOT NULL,
    committed  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (object, idx),
    CHECK (k >= 1 AND k <= n AND n <= 256 AND length(hashes) = 32 * n)
);

CREATE TABLE pieces (
    object   BLOB   NOT NULL,
    segment  BIGINT NOT NULL,
    idx      BIGINT NOT NULL CHECK (idx >= 0),
    node     BLOB   NOT NULL REFERENCES nodes (id),
    piece_id BLOB   NOT NULL CHECK (length(piece_id) = 32),
    size     BIGINT NOT NULL,
    receipt  BLOB   NOT NULL,
    PRIMARY KEY (object, segment, idx),
    FOREIGN KEY (object, segment) REFERENCES segments (object, idx)
);
-- Reference count of a stored piece: identical pieces (same node, same
-- content hash) may belong to several objects, and a piece is deleted from
-- its node only when no row references it any more.
CREATE INDEX pieces_node_piece ON pieces (node, piece_id);

CREATE TABLE deletions (
    node     BLOB   NOT NULL REFERENCES nodes (id),
    piece_id BLOB   NOT NULL CHECK (length(piece_id) = 32),
    queued   BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    PRIMARY KEY (node, piece_id)
);
-- PendingDeletions(node), oldest first.
CREATE INDEX deletions_node_queued ON deletions (node, queued, piece_id);
