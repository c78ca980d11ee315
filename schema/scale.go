package schema

import (
	"cuelang.org/go/cue"
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
