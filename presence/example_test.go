package presence_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/heraldsse/herald/presence"
)

// A hub registers each subscription when it starts and removes it when it
// ends; anyone may ask who is subscribed, filtering as it lists.
func Example() {
	ctx := context.Background()
	reg, err := presence.NewMemory(presence.MemoryOptions{Node: "web-1"})
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close(ctx)

	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, sub := range []presence.Subscription{
		{ID: "urn:uuid:00000000-0000-4000-8000-000000000001", Topics: []presence.Matcher{{Kind: presence.KindHerald, Value: "chat/lobby"}}, Payload: []byte(`{"name":"ada"}`)},
		{ID: "urn:uuid:00000000-0000-4000-8000-000000000002", Topics: []presence.Matcher{{Kind: presence.KindHerald, Value: "chat/*"}}},
		{ID: "urn:uuid:00000000-0000-4000-8000-000000000003", Topics: []presence.Matcher{{Kind: presence.KindExact, Value: "https://example.com/books/1"}}},
	} {
		sub.Start = start // a hub leaves it zero: Join sets the current time
		if _, err := reg.Join(sub); err != nil {
			log.Fatal(err)
		}
	}

	// Who subscribed with the herald pattern chat/*? The caller filters.
	for s, err := range reg.List(ctx) {
		if err != nil {
			log.Fatal(err)
		}
		for _, m := range s.Topics {
			if m == (presence.Matcher{Kind: presence.KindHerald, Value: "chat/*"}) {
				fmt.Println(s.ID, "on", s.Node)
			}
		}
	}

	if err := reg.Leave("urn:uuid:00000000-0000-4000-8000-000000000001"); err != nil {
		log.Fatal(err)
	}
	c, err := reg.Count(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d on this node, %d in the cluster\n", c.Node, c.Cluster)
	// Output:
	// urn:uuid:00000000-0000-4000-8000-000000000002 on web-1
	// 2 on this node, 2 in the cluster
}
