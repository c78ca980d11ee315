package calendar

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// normalized is the expression as systemd prints it ("Normalized form:"
// of systemd-analyze calendar), for the tests to compare meanings.
func (c *calSpec) normalized() string {
	cp := *c
	switch cp.timeGiven {
	case 0:
		if cp.hour == nil && cp.min == nil {
			cp.hour = []calComp{{stop: -1}}
			cp.min = []calComp{{stop: -1}}
		}
		fallthrough
	case 2:
		if cp.us == nil {
			cp.us = []calComp{{stop: -1}}
		}
	}
	var b strings.Builder
	if cp.weekdays > 0 && cp.weekdays < 127 {
		formatWeekdays(&b, cp.weekdays)
		b.WriteByte(' ')
	}
	eom := cp.endOfMonth && cp.day != nil
	formatChain(&b, 4, normChain(cp.year), false)
	b.WriteByte('-')
	formatChain(&b, 2, normChain(cp.month), false)
	if eom {
		b.WriteByte('~')
	} else {
		b.WriteByte('-')
	}
	formatChain(&b, 2, normChain(cp.day), false)
	b.WriteByte(' ')
	formatChain(&b, 2, normChain(cp.hour), false)
	b.WriteByte(':')
	formatChain(&b, 2, normChain(cp.min), false)
	b.WriteByte(':')
	formatChain(&b, 2, normChain(cp.us), true)
	if cp.utc {
		b.WriteString(" UTC")
	} else if cp.zone != "" {
		b.WriteString(" " + cp.zone)
	}
	return b.String()
}

// normChain shortens ranges to a multiple of their repetition, makes
// ranges that cannot repeat single values, sorts and drops repeats.
func normChain(in []calComp) []calComp {
	if in == nil {
		return nil
	}
	out := make([]calComp, 0, len(in))
	for _, c := range in {
		c.pos = 0
		if c.stop > c.start && c.repeat > 0 {
			c.stop -= (c.stop - c.start) % c.repeat
		}
		if c.stop > c.start && c.repeat > 0 && c.start+c.repeat > c.stop || c.start == c.stop {
			c.stop, c.repeat = -1, 0
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b calComp) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.stop, b.stop), cmp.Compare(a.repeat, b.repeat))
	})
	return slices.Compact(out)
}

func formatChain(b *strings.Builder, width int, chain []calComp, usec bool) {
	d := 1
	if usec {
		d = usecPerSec
	}
	if chain == nil || usec && len(chain) == 1 && chain[0].start == 0 && chain[0].repeat == usecPerSec && chain[0].stop < 0 {
		b.WriteByte('*')
		return
	}
	for i, c := range chain {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(b, "%0*d", width, c.start/d)
		if c.start%d > 0 {
			fmt.Fprintf(b, ".%06d", c.start%d)
		}
		if c.stop > 0 {
			fmt.Fprintf(b, "..%0*d", width, c.stop/d)
		}
		if c.stop%d > 0 {
			fmt.Fprintf(b, ".%06d", c.stop%d)
		}
		if c.repeat > 0 && !(c.stop > 0 && c.repeat == d) {
			fmt.Fprintf(b, "/%d", c.repeat/d)
		}
		if c.repeat%d > 0 {
			fmt.Fprintf(b, ".%06d", c.repeat%d)
		}
	}
}

func formatWeekdays(b *strings.Builder, bits int) {
	days := []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	l, comma := -1, false
	x := 0
	for ; x < len(days); x++ {
		if bits&(1<<x) != 0 {
			if l < 0 {
				if comma {
					b.WriteByte(',')
				}
				comma = true
				b.WriteString(days[x])
				l = x
			}
		} else if l >= 0 {
			if x > l+1 {
				if x > l+2 {
					b.WriteString("..")
				} else {
					b.WriteByte(',')
				}
				b.WriteString(days[x-1])
			}
			l = -1
		}
	}
	if l >= 0 && x > l+1 {
		if x > l+2 {
			b.WriteString("..")
		} else {
			b.WriteByte(',')
		}
		b.WriteString(days[x-1])
	}
}
