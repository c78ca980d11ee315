package render

import (
	"fmt"
	"strings"

	"github.com/immich-render/immich-render/schema"
)

// LegacyHostGateway is what immich.hostGateway defaulted to before it
// followed immich.network.gateway: Podman's default bridge, which a host
// has only while some container uses Podman's default network.
const LegacyHostGateway = "10.88.0.1"

// gatewayNote says, in a fragment's comment, what the host gateway is.
func gatewayNote(cfg *schema.Config) string {
	im := cfg.Immich
	if im.HostGateway == im.Network.Gateway {
		return fmt.Sprintf(",\n# the gateway of the Podman network %s", im.Network.Name)
	}
	return ""
}

// gatewayWarnings warns about a host gateway other than the Immich
// network's: nothing in this deployment puts that address on the host.
func gatewayWarnings(cfg *schema.Config) []string {
	im := cfg.Immich
	if im.HostGateway == im.Network.Gateway {
		return nil
	}
	return []string{fmt.Sprintf("immich.hostGateway %s is not the gateway of the Podman network %s (%s): the containers reach PostgreSQL and Valkey only while something else keeps %s on this host (for %s, a container on Podman's default network); leave hostGateway unset to use %s",
		im.HostGateway, im.Network.Name, im.Network.Gateway, im.HostGateway, LegacyHostGateway, im.Network.Gateway)}
}

// HostGatewayNotes says what a change of immich.hostGateway means for a
// deployed host; from is the gateway of the previous render ("" when it
// did not record one, which means LegacyHostGateway unless the
// configuration set another).
func HostGatewayNotes(from, to string) []string {
	if from == "" {
		from = LegacyHostGateway
	}
	if from == to {
		return nil
	}
	return []string{
		fmt.Sprintf("host.containers.internal changes from %s to %s, and PostgreSQL and Valkey now listen on %s instead of %s.", from, to, to, from),
		"On the host, after copying the files: run fragments/apply.sh (it merges the new address into the listen addresses and sets net.ipv4.ip_nonlocal_bind=1), restart PostgreSQL and Valkey, then `systemctl restart immich-db-init.service immich.service` so that the containers are recreated with the new address.",
		fmt.Sprintf("To keep %s instead, set immich.hostGateway: %q explicitly; it works only while the host has that address.", from, from),
	}
}

// hostAccessSection explains, in the output README, which address the
// host services listen on, why it is there when they start, and how the
// containers reach it.
func hostAccessSection(cfg *schema.Config) string {
	im := cfg.Immich
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## How the containers reach the host\n\n")
	w("PostgreSQL and Valkey run on the host; the containers reach them as\n")
	w("`host.containers.internal`, which %s.\n", hostMapping(cfg))
	if im.HostGateway == im.Network.Gateway {
		w("That is the gateway of the Podman network `%s` (%s): the host's end of the\n", im.Network.Name, im.Network.Subnet)
		w("bridge the containers are attached to, so they reach it directly, never through a\n")
		w("default route.\n\n")
	} else {
		w("That is **not** the gateway of the Podman network `%s` (%s, gateway %s):\n", im.Network.Name, im.Network.Subnet, im.Network.Gateway)
		w("the containers reach %s only while something else keeps that address on the\n", im.HostGateway)
		w("host (for %s, Podman's default bridge, a container on Podman's default network).\n", LegacyHostGateway)
		w("Without it their packets follow the host's default route and the stack cannot start.\n")
		w("Leave `immich.hostGateway` unset to use %s.\n\n", im.Network.Gateway)
	}
	w("- PostgreSQL listens on `localhost,%s` and Valkey binds `127.0.0.1 -::1 %s`\n", im.HostGateway, im.HostGateway)
	w("  (`fragments/`); `pg_hba.conf` admits only %s, Valkey only the ACL users.\n", im.Network.Subnet)
	w("- Podman puts %s on the bridge when the first container attaches to `%s`, long after\n", im.Network.Gateway, im.Network.Name)
	w("  PostgreSQL and Valkey have started at boot (with CNI the bridge then stays until the\n")
	w("  network is removed; netavark removes it with the last container). So both servers bind\n")
	w("  it *before* it exists: `fragments/apply.sh` sets `net.ipv4.ip_nonlocal_bind=1` in\n")
	w("  `/etc/sysctl.d/60-immich-render.conf`, which systemd-sysctl applies early at boot. A\n")
	w("  socket bound that way accepts connections as soon as the address appears, and keeps\n")
	w("  working when the bridge goes and comes back; restarting either server at any time is safe.\n")
	w("- A host firewall must let %s reach ports %d and %d on %s.\n\n", im.Network.Subnet, im.Postgres.Port, im.Valkey.Port, im.HostGateway)
	return b.String()
}
