-- The CREATE statements of every project.sqlite made before the schema version (user_version 0),
-- as ll4al wrote them: frozen, for tests/project/test_store.py.
CREATE TABLE IF NOT EXISTS samples (
    id TEXT PRIMARY KEY,            -- the image's path relative to the image root
    pool_index INTEGER UNIQUE,      -- row in the pool (NULL for evaluation images)
    split TEXT NOT NULL,            -- 'pool' or 'eval'
    checksum TEXT NOT NULL,         -- sha256 of the file when registered
    width INTEGER NOT NULL,
    height INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    strategy TEXT NOT NULL,
    round INTEGER,                  -- the model round that proposed it; NULL: random draw
    created TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open'  -- 'open' until every sample has a label, then 'done'
);
CREATE TABLE IF NOT EXISTS batch_items (
    batch INTEGER NOT NULL REFERENCES batches(id),
    sample TEXT NOT NULL REFERENCES samples(id),
    rank INTEGER NOT NULL,
    score REAL,
    guess TEXT,                     -- the model's label, JSON
    PRIMARY KEY (batch, sample)
);
CREATE TABLE IF NOT EXISTS labels (
    id INTEGER PRIMARY KEY,
    sample TEXT NOT NULL REFERENCES samples(id),
    value TEXT NOT NULL,            -- JSON: a class name, or boxes
    annotator TEXT NOT NULL,
    seconds REAL,
    created TEXT NOT NULL,
    source TEXT NOT NULL,           -- the file it was imported from, or 'web' (ll4al label)
    batch INTEGER REFERENCES batches(id),
    UNIQUE (sample, annotator, value)
);
CREATE TABLE IF NOT EXISTS sample_groups (  -- DICOM samples only
    sample TEXT PRIMARY KEY REFERENCES samples(id),
    patient TEXT NOT NULL,          -- PatientID, StudyInstanceUID, SeriesInstanceUID: to keep
    study TEXT NOT NULL,            -- patients apart (init --eval, active.spread); never shown
    series TEXT NOT NULL            -- on the page nor written to any file
);
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY,
    labeled INTEGER NOT NULL,
    labels_digest TEXT NOT NULL,    -- which labels it was trained on
    weights TEXT NOT NULL,          -- file name in the project's models/ folder
    metrics TEXT,                   -- JSON, on the evaluation set, if there is one
    train_seconds REAL NOT NULL,
    created TEXT NOT NULL,
    training TEXT                   -- JSON: batch, steps, schedule, augmentation used
);
