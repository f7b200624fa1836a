package wake

import (
	"context"
	"errors"
	"iter"

	"github.com/heraldsse/herald/internal/topic"
	"github.com/heraldsse/herald/store"
)

// ReadPage is [store.Log.Read] for a log with one history for every topic,
// read through its After: a page of at most q.Max entries after after
// whose topics match q.Patterns. When after was evicted, the page says so
// and reads on from the oldest entry kept.
func ReadPage(ctx context.Context, after store.ID, q store.Query, all func(context.Context, store.ID) iter.Seq2[store.Entry, error]) (store.Page, error) {
	max := q.Max
	if max <= 0 {
		max = 64
	}
	page := store.Page{Next: after}
	from := after
	for {
		done := true
		var err error
		for e, ierr := range all(ctx, from) {
			if ierr != nil {
				err = ierr
				break
			}
			if e.ID.Compare(after) <= 0 {
				continue
			}
			page.Next = e.ID
			if matchesAny(q.Patterns, e.Topic) {
				page.Entries = append(page.Entries, e)
				if len(page.Entries) == max {
					done = false
					break
				}
			}
		}
		switch {
		case errors.Is(err, store.ErrEvicted) && !from.IsZero():
			page.Evicted, from = true, store.ID{}
			continue
		case err != nil:
			return store.Page{}, err
		}
		page.Done = done
		return page, nil
	}
}

func matchesAny(patterns []string, t string) bool {
	for _, p := range patterns {
		if topic.Match(p, t) {
			return true
		}
	}
	return false
}
