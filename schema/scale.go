package schema

import (
	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/token"
)

// A CUE struct finds a field by name by scanning its fields, so anything
// done per host that looks a host up by name (cue.Value.LookupPath on
// hosts.<name>) costs a scan of the whole fleet: quadratic in the number
// of hosts, seconds at 50,000. Every per-host lookup goes through an index
// built once instead (fleet.hostValue, hostLabels).

// hostLabels returns the function that gives the positions where the
// inputs write host name's label (as locating the field hosts.<name> in
// each input would), from one pass over each input's hosts.
func (fl *fleet) hostLabels() func(name string) []token.Pos {
	byInput := make([]map[string]token.Pos, len(fl.l.inputs))
	for i, in := range fl.l.inputs {
		byInput[i] = map[string]token.Pos{}
		it, err := in.LookupPath(cue.MakePath(cue.Str(fleetHosts))).Fields()
		if err != nil {
			continue
		}
		for it.Next() {
			byInput[i][it.Selector().Unquoted()] = it.Value().Pos()
		}
	}
	return func(name string) []token.Pos {
		var out []token.Pos
		for _, m := range byInput {
			if pos, ok := m[name]; ok {
				out = addPos(out, fl.l.position(pos))
			}
		}
		return out
	}
}

// mergeAll is the largest fleet whose hosts are all merged before any is
// validated: for more, a worker's own compiled schema (~12 ms) costs less
// than the memory of every merged host kept waiting.
const mergeAll = 64

// mergeAhead merges the selected hosts into exprs on a goroutine of its
// own, in order, at most 4 per worker ahead of the workers, and returns
// the function a worker calls before it takes exprs[i]. Hosts are taken
// in increasing i (parallel.ForEach hands them out so), each taking frees
// a place, so the merging goroutine waits only while 4*workers merged
// hosts wait for workers, and ends once the last host is merged.
func mergeAhead(fl *fleet, selected []string, exprs []ast.Expr, workers int) (ready func(i int)) {
	merged := make([]chan struct{}, len(selected))
	for i := range merged {
		merged[i] = make(chan struct{})
	}
	places := make(chan struct{}, 4*workers)
	go func() {
		for i, name := range selected {
			places <- struct{}{}
			exprs[i] = fl.merged(name)
			close(merged[i])
		}
	}()
	return func(i int) {
		<-merged[i]
		<-places
	}
}
