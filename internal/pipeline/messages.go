package pipeline

import (
	"fmt"
	"strings"

	"github.com/immich-render/immich-render/internal/group"
	"github.com/immich-render/immich-render/render"
	"github.com/immich-render/immich-render/schema"
)

// MaxHostsListed is how many host names a message lists before "and N more".
const MaxHostsListed = 30

// hostMessage is something said about one host ("" for a site).
type hostMessage struct {
	Host, Text string
}

// byText groups identical messages, in the order they first appear, with
// the hosts that have each, so that a message many hosts share (warnings,
// upgrade notes) is said once.
func byText(msgs []hostMessage) (texts []string, hosts map[string][]string) {
	texts, groups := group.By(msgs, func(m hostMessage) string { return m.Text })
	hosts = map[string][]string{}
	for text, ms := range groups {
		for _, m := range ms {
			hosts[text] = append(hosts[text], m.Host)
		}
	}
	return texts, hosts
}

// formatWarnings says each warning once, with the hosts it concerns.
func formatWarnings(ws []hostMessage) []string {
	texts, hosts := byText(ws)
	var out []string
	for _, text := range texts {
		switch h := hosts[text]; {
		case len(h) == 1 && h[0] == "":
			out = append(out, text)
		case len(h) == 1:
			out = append(out, h[0]+": "+text)
		default:
			out = append(out, fmt.Sprintf("%s (%s: %s)", text, group.Plural(len(h), "host"), ListHosts(h, 10)))
		}
	}
	return out
}

// upgradeNotes compares each host's Immich version with the one the last
// render recorded, and says what each change crosses, once per change.
func upgradeNotes(hosts []schema.FleetHost, prevMeta map[string]string) []string {
	var msgs []hostMessage
	for _, h := range hosts {
		notes := render.UpgradeNotes(prevMeta[metaKey(h.Name, "immichVersion")], h.Config.Immich.Version)
		if notes != nil {
			notes = append(notes, render.UpgradeDumpNote(h.Config))
		}
		if h.Name == "" { // fleet manifests do not record the gateway yet
			notes = append(notes, render.HostGatewayNotes(prevMeta["hostGateway"], h.Config.Immich.HostGateway)...)
		}
		notes = append(notes, render.RuntimeNotes(previousRuntime(prevMeta, h.Name), h.Config)...)
		if notes != nil {
			msgs = append(msgs, hostMessage{h.Name, strings.Join(notes, "\n  ")})
		}
	}
	texts, byNotes := byText(msgs)
	var out []string
	for _, text := range texts {
		if h := byNotes[text]; len(h) == 1 && h[0] == "" {
			out = append(out, fmt.Sprintf("upgrade notes:\n  %s\n", text))
		} else {
			out = append(out, fmt.Sprintf("upgrade notes for %s:\n  %s\n", ListHosts(h, 10), text))
		}
	}
	return out
}

// previousRuntime is the runtime the last render recorded for a host: ""
// when there was none, and compose for a manifest from before
// immich.runtime, when compose was the only one.
func previousRuntime(prevMeta map[string]string, host string) string {
	if r := prevMeta[metaKey(host, "runtime")]; r != "" {
		return r
	}
	if prevMeta[metaKey(host, "immichVersion")] != "" {
		return "compose"
	}
	return ""
}

// ListHosts joins host names, at most max of them.
func ListHosts(names []string, max int) string {
	if len(names) <= max {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:max], ", "), len(names)-max)
}
