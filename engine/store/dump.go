package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Dumper is a store whose whole content can be listed and loaded back as it
// was: backups of one backend restored into the same or the other backend.
// Both backends implement it.
type Dumper interface {
	Store
	// Collections lists every collection that holds documents or declared
	// indexes, sorted.
	Collections(ctx context.Context) ([]string, error)
	// Indexes returns the indexes declared on coll, sorted by name.
	Indexes(ctx context.Context, coll string) ([]Index, error)
	// Load stores documents exactly as given, their _id and _v included
	// (a version keeps its meaning for If-Match and the posting journal).
	// Like InsertMany, it is not atomic as a whole, and an existing _id or a
	// unique key held by another document fails with a *DuplicateError.
	Load(ctx context.Context, coll string, docs []Doc) error
}

// CopyStats counts what Copy copied.
type CopyStats struct {
	Collections int
	Documents   int64
}

// Copy copies every collection of src, with its indexes, into dst, which
// should be empty. Collections named in last are copied after all the others,
// in that order: a collection whose values only grow and that the others'
// values are taken from (the numbering series) is copied after them, so that
// a copy taken while servers write never holds a number the series has not
// reached. Collections in skip are left out. progress, when not nil, is
// called after each collection.
func Copy(ctx context.Context, dst, src Dumper, last, skip []string, progress func(coll string, docs int64)) (CopyStats, error) {
	var stats CopyStats
	colls, err := src.Collections(ctx)
	if err != nil {
		return stats, fmt.Errorf("store: copy: %w", err)
	}
	colls = slices.DeleteFunc(colls, func(c string) bool { return slices.Contains(skip, c) || slices.Contains(last, c) })
	colls = append(colls, last...) // a collection not in src is read as empty
	for _, coll := range colls {
		n, err := copyCollection(ctx, dst, src, coll)
		if err != nil {
			return stats, fmt.Errorf("store: copy %s: %w", coll, err)
		}
		stats.Collections++
		stats.Documents += n
		if progress != nil {
			progress(coll, n)
		}
	}
	return stats, nil
}

// copyPage is how many documents Copy reads and loads at a time.
const copyPage = 500

func copyCollection(ctx context.Context, dst, src Dumper, coll string) (int64, error) {
	indexes, err := src.Indexes(ctx, coll)
	if err != nil {
		return 0, err
	}
	if len(indexes) > 0 {
		if err := dst.EnsureIndexes(ctx, coll, indexes...); err != nil {
			return 0, err
		}
	}
	var n int64
	q := Query{Limit: copyPage}
	for {
		page, err := src.Find(ctx, coll, q)
		if errors.Is(err, ErrNotFound) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if len(page.Docs) > 0 {
			if err := dst.Load(ctx, coll, page.Docs); err != nil {
				return n, err
			}
			n += int64(len(page.Docs))
		}
		if page.Next == "" {
			return n, nil
		}
		q.After = page.Next
	}
}
