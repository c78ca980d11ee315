package schema

import (
	"reflect"
	"testing"
)

// TestFleetMergedAhead: a fleet large enough to be merged as the workers
// go (more than mergeAll hosts) gives the result of one worker that merges
// everything first, problems included, whatever the number of workers.
func TestFleetMergedAhead(t *testing.T) {
	n := mergeAll + 37
	good := genFleet(n)
	bad := append(append([]byte(nil), good...), []byte(`hosts: nas0003: immich: port: 0
hosts: nas0070: immich: port: 0
hosts: nas0099: immich: timezone: "Nowhere/Else"
`)...)
	var first *Fleet
	var firstErr string
	for _, w := range []int{1, 2, 5} {
		fl, err := LoadFleet([]Input{{Name: "f.cue", Data: good}}, benchEnv, FleetOptions{Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		if len(fl.Hosts) != n {
			t.Fatalf("%d workers: %d hosts, want %d", w, len(fl.Hosts), n)
		}
		_, err = LoadFleet([]Input{{Name: "f.cue", Data: bad}}, benchEnv, FleetOptions{Workers: w})
		if err == nil {
			t.Fatalf("%d workers: no problems", w)
		}
		if first == nil {
			first, firstErr = fl, err.Error()
			continue
		}
		if !reflect.DeepEqual(first, fl) {
			t.Errorf("%d workers give another fleet than 1", w)
		}
		if err.Error() != firstErr {
			t.Errorf("1 worker:\n%s\n%d workers:\n%s", firstErr, w, err)
		}
	}
}
