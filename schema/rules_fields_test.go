package schema

import (
	"net/netip"
	"slices"
	"testing"
)

// TestBroadcast: the last address of IPv4 networks of every kind of prefix.
func TestBroadcast(t *testing.T) {
	for prefix, want := range map[string]string{
		"10.0.0.0/8":      "10.255.255.255",
		"172.20.0.0/16":   "172.20.255.255",
		"192.168.1.0/30":  "192.168.1.3",
		"192.168.1.64/26": "192.168.1.127",
		"10.0.0.0/31":     "10.0.0.1",
		"10.0.0.1/32":     "10.0.0.1",
		"0.0.0.0/0":       "255.255.255.255",
	} {
		if got := broadcast(netip.MustParsePrefix(prefix)).String(); got != want {
			t.Errorf("broadcast(%s) = %s, want %s", prefix, got, want)
		}
	}
}

// TestCheckNetwork: each gateway rule on its own, every one that applies
// (a /32's one address is its network and its broadcast address), and
// none about the gateway while the subnet has host bits set.
func TestCheckNetwork(t *testing.T) {
	for _, tc := range []struct {
		subnet, gateway string
		want            []string
	}{
		{"172.20.0.0/16", "172.20.0.1", nil},
		{"172.20.0.0/16", "172.21.0.1", []string{"immich.network.gateway: 172.21.0.1 is not inside subnet 172.20.0.0/16"}},
		{"172.20.0.0/16", "172.20.0.0", []string{"immich.network.gateway: 172.20.0.0 is the network address of 172.20.0.0/16, not a usable gateway"}},
		{"172.20.0.0/16", "172.20.255.255", []string{"immich.network.gateway: 172.20.255.255 is the broadcast address of 172.20.0.0/16, not a usable gateway"}},
		{"10.0.0.1/32", "10.0.0.1", []string{
			"immich.network.gateway: 10.0.0.1 is the network address of 10.0.0.1/32, not a usable gateway",
			"immich.network.gateway: 10.0.0.1 is the broadcast address of 10.0.0.1/32, not a usable gateway",
		}},
		{"172.20.0.1/16", "172.21.0.1", []string{"immich.network.subnet: 172.20.0.1/16 has host bits set; the network is 172.20.0.0/16"}},
	} {
		var c Config
		c.Immich.Network.Subnet, c.Immich.Network.Gateway = tc.subnet, tc.gateway
		var got []string
		checkNetwork(&c, func(path, reason, hint string) {
			if hint != schemaHint {
				t.Errorf("%s: hint %q, want the field's own", path, hint)
			}
			got = append(got, path+": "+reason)
		})
		if !slices.Equal(got, tc.want) {
			t.Errorf("subnet %s, gateway %s: %q, want %q", tc.subnet, tc.gateway, got, tc.want)
		}
	}
}
