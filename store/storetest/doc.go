// Package storetest is the conformance suite for [store.Log]
// implementations: every implementation's tests call [Run] and
// [RunRetention] (history per policy, trimmed exactly), a log on one node
// [RunBackpressure] (Append waits rather than lap a follower), and a log
// shared by nodes [RunLaggingFollower], so memory, bolt and redis are held
// to the same contract.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Log {
//			l := memory.New(memory.Options{})
//			t.Cleanup(func() { l.Close() })
//			return l
//		})
//	}
//
// Subtests are named for the behaviour they check, so a failure reads as the
// rule that was broken, for example
// TestConformance/follow_with_8_concurrent_appenders. The suite never sleeps:
// it waits on channels, with a generous timeout only to turn a hang into a
// failure that names what it was waiting for.
package storetest
