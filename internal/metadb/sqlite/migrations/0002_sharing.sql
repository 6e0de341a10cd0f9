-- nuage coordinator metadata, schema version 2: sharing (docs/spec.md §2.3,
-- §8 "Scoped sessions", §9 ops 3 and 4, §10, §11). The conventions of
-- version 1 hold.

-- The Ed25519 signing key pair (§2.3): the public key in clear, the seed
-- wrapped under the master key. NULL until set; set once.
ALTER TABLE accounts ADD COLUMN signing_key BLOB;
ALTER TABLE accounts ADD COLUMN wrapped_signing_key BLOB;

-- Links (§10). A revoked link is kept (it answers "revoked", not "not
-- found"). The target is not a foreign key: the entry may be deleted while
-- the link stays ("gone").
CREATE TABLE links (
    id                 BLOB   NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    account            BLOB   NOT NULL REFERENCES accounts (id),
    target             BLOB   NOT NULL CHECK (length(target) = 16),
    created            BIGINT NOT NULL,
    -- The zero time (the smallest BIGINT) for a link that never expires.
    expires            BIGINT NOT NULL,
    -- 0: unlimited.
    max_downloads      BIGINT NOT NULL CHECK (max_downloads >= 0),
    downloads          BIGINT NOT NULL CHECK (downloads >= 0),
    -- The zero time until the link is revoked.
    revoked            BIGINT NOT NULL,
    verifier           BLOB   NOT NULL,
    -- JSON KDF parameters; NULL for a link without a password.
    kdf                BLOB,
    wrapped_link_key   BLOB   NOT NULL,
    wrapped_target_key BLOB   NOT NULL,
    owner_link_key     BLOB   NOT NULL,
    owner_secret       BLOB   NOT NULL,
    CHECK (max_downloads = 0 OR downloads <= max_downloads)
);
-- Links(account), ordered by creation without a sort.
CREATE INDEX links_account_created ON links (account, created, id);

-- Folders shared between accounts (§11). key_id is the share's current
-- write key, set exactly for read-write shares.
CREATE TABLE shares (
    id        BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    owner     BLOB    NOT NULL REFERENCES accounts (id),
    root      BLOB    NOT NULL CHECK (length(root) = 16),
    recipient BLOB    NOT NULL REFERENCES accounts (id),
    writable  BOOLEAN NOT NULL,
    key_id    BLOB    CHECK (length(key_id) = 16),
    epoch     BIGINT  NOT NULL CHECK (epoch >= 0 AND epoch <= 4294967295),
    -- The sealed payload, opaque here.
    sealed    BLOB    NOT NULL,
    created   BIGINT  NOT NULL,
    updated   BIGINT  NOT NULL,
    UNIQUE (owner, root, recipient),
    CHECK ((writable AND key_id IS NOT NULL) OR (NOT writable AND key_id IS NULL))
);
-- SharesByOwner and SharesByRecipient, ordered by creation without a sort.
CREATE INDEX shares_owner_created ON shares (owner, created, id);
CREATE INDEX shares_recipient_created ON shares (recipient, created, id);

-- Write keys granted in an account's journal (§9 ops 3 and 4), each for one
-- folder. A key ID is granted at most once per account, ever: a revoked key
-- stays, inactive.
CREATE TABLE write_keys (
    account BLOB    NOT NULL REFERENCES accounts (id),
    id      BLOB    NOT NULL CHECK (length(id) = 16),
    root    BLOB    NOT NULL CHECK (length(root) = 16),
    active  BOOLEAN NOT NULL,
    PRIMARY KEY (account, id)
);

-- Scoped sessions (§8): the owner's account restricted to the subtree of
-- root (NULL: the whole account), opened for a share or a link (at most one
-- of them). root is not a foreign key: the entry may be deleted while the
-- session lives (the coordinator then finds nothing under it).
ALTER TABLE sessions ADD COLUMN root BLOB CHECK (length(root) = 16);
ALTER TABLE sessions ADD COLUMN writable BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE sessions ADD COLUMN share BLOB REFERENCES shares (id);
ALTER TABLE sessions ADD COLUMN link BLOB REFERENCES links (id);
-- Whether the link session was counted as a download of its link.
ALTER TABLE sessions ADD COLUMN downloaded BOOLEAN NOT NULL DEFAULT FALSE;
-- The recipient who opened a share session (NULL for other sessions).
ALTER TABLE sessions ADD COLUMN opener BLOB REFERENCES accounts (id) CHECK (length(opener) = 16);
-- DeleteShareSessions, DeleteLinkSessions (and the deletes of a share and
-- the revocation of a link): only scoped sessions are indexed.
CREATE INDEX sessions_share ON sessions (share) WHERE share IS NOT NULL;
CREATE INDEX sessions_link ON sessions (link) WHERE link IS NOT NULL;
-- DeleteSessions(account): a password change or a reset ends them all.
CREATE INDEX sessions_account ON sessions (account);
-- DeleteSessions(recipient): the share sessions it opened.
CREATE INDEX sessions_opener ON sessions (opener) WHERE opener IS NOT NULL;
