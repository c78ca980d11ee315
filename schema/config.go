package schema

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Config is a validated site configuration with every default applied and
// every secret resolved. It is what the renderers consume; nothing
// downstream validates again. Field names and JSON tags mirror the CUE
// schema in cue/.
type Config struct {
	Immich Immich       `json:"immich"`
	Valkey ValkeyServer `json:"valkey"`
	Host   Host         `json:"host"`
}

// Immich is the immich section: the compose stack and how it reaches the host.
type Immich struct {
	Version           string            `json:"version"`
	Port              int               `json:"port"`
	Timezone          string            `json:"timezone"`
	UploadLocation    string            `json:"uploadLocation"`
	ProjectDir        string            `json:"projectDir"`
	ModelCache        string            `json:"modelCache"`
	ComposeCommand    string            `json:"composeCommand"`
	Runtime           string            `json:"runtime"` // compose or quadlet
	Network           Network           `json:"network"`
	HostGateway       string            `json:"hostGateway"`
	Postgres          ImmichPostgres    `json:"postgres"`
	Valkey            ImmichValkey      `json:"valkey"`
	MachineLearning   MachineLearning   `json:"machineLearning"`
	Transcoding       Transcoding       `json:"transcoding"`
	GPUMode           string            `json:"gpuMode"`
	SELinuxRelabel    bool              `json:"selinuxRelabel"`
	ExternalLibraries []ExternalLibrary `json:"externalLibraries"`
	Environment       map[string]string `json:"environment"`
	ImageDigests      ImageDigests      `json:"imageDigests"`
	// Settings is Immich's system configuration as given, or nil. A
	// secret setting holds its reference here; SettingSecrets has its value.
	Settings map[string]any `json:"settings,omitempty"`
	Nginx    Nginx          `json:"nginx"`
	Backup   Backup         `json:"backup"`
	Storage  Storage        `json:"storage"`
	Metrics  Metrics        `json:"metrics"`

	// settingsSecrets are the resolved secrets of Settings, by config path.
	settingsSecrets map[string]*Secret
}

// Network is the external Podman network the containers join.
type Network struct {
	Name    string `json:"name"`
	Subnet  string `json:"subnet"`
	Gateway string `json:"gateway"`
}

// ImmichPostgres is how Immich reaches its database on the host.
type ImmichPostgres struct {
	Host            string `json:"host"`
	Port            int    `json:"port"`
	Database        string `json:"database"`
	User            string `json:"user"`
	Password        Secret `json:"password"`
	VectorExtension string `json:"vectorExtension"`
}

// ImmichValkey is the Immich user in the host's Valkey.
type ImmichValkey struct {
	Host        string   `json:"host"`
	Port        int      `json:"port"`
	DB          int      `json:"db"`
	User        string   `json:"user"`
	Password    Secret   `json:"password"`
	KeyPatterns []string `json:"keyPatterns"`
	// Commands is the user's own ACL rule string, or "" for the default;
	// Rules returns the rules that apply.
	Commands string `json:"commands,omitempty"`
}

// MachineLearning configures the immich-machine-learning container.
type MachineLearning struct {
	Enabled      bool              `json:"enabled"`
	Acceleration string            `json:"acceleration"`
	Environment  map[string]string `json:"environment"`
	// URL is a machine-learning service elsewhere, "" for the local container.
	URL string `json:"url,omitempty"`
}

// Local reports whether the machine-learning container runs on this host:
// machine learning is on and not elsewhere.
func (m MachineLearning) Local() bool { return m.Enabled && m.URL == "" }

// Transcoding configures hardware video transcoding in immich-server.
type Transcoding struct {
	Acceleration string `json:"acceleration"`
}

// ExternalLibrary is a host folder mounted into immich-server.
type ExternalLibrary struct {
	HostPath      string `json:"hostPath"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly"`
}

// ImageDigests pins images to digests; empty strings mean tag only.
type ImageDigests struct {
	Server          string `json:"server,omitempty"`
	MachineLearning string `json:"machineLearning,omitempty"`
}

// Nginx is the reverse proxy vhost.
type Nginx struct {
	Enabled     bool   `json:"enabled"`
	Hostname    string `json:"hostname,omitempty"`
	TLS         string `json:"tls"` // acme, webroot, manual or off
	ACME        ACME   `json:"acme"`
	MaxBodySize string `json:"maxBodySize"`
	HTTPPort    int    `json:"httpPort"`
	HTTPSPort   int    `json:"httpsPort"`
	IPv6        bool   `json:"ipv6"`
	HTTP2       string `json:"http2"` // off, on (http2 on;) or listen (listen ... http2)
	HSTS        struct {
		Enabled           bool `json:"enabled"`
		MaxAge            int  `json:"maxAge"`
		IncludeSubDomains bool `json:"includeSubDomains"`
	} `json:"hsts"`
	Webroot        string   `json:"webroot"`                  // tls webroot
	Certificate    string   `json:"certificate,omitempty"`    // tls manual
	CertificateKey string   `json:"certificateKey,omitempty"` // tls manual
	RealIPFrom     []string `json:"realIpFrom"`
}

// ACME holds the certificate authority account settings and, for nginx's
// native ACME module, the issuer.
type ACME struct {
	Email        string   `json:"email,omitempty"`
	RenderIssuer bool     `json:"renderIssuer"`
	Issuer       string   `json:"issuer"`
	Staging      bool     `json:"staging"`
	Directory    string   `json:"directory,omitempty"` // "" for Let's Encrypt
	Resolver     []string `json:"resolver"`
	StatePath    string   `json:"statePath"`
}

// ValkeyServer is the host's shared Valkey: admin user and other services.
type ValkeyServer struct {
	AdminPassword Secret       `json:"adminPassword"`
	Users         []ValkeyUser `json:"users"`
	// ACLMode is ACLModeFile (users.acl rendered whole) or ACLModeUser
	// (only Immich's user, set with ACL SETUSER on the host).
	ACLMode string `json:"aclMode"`
}

// The values of valkey.aclMode.
const (
	ACLModeFile = "file"
	ACLModeUser = "user"
)

// ValkeyUser is another service's user in the shared Valkey.
type ValkeyUser struct {
	Username        string   `json:"username"`
	Password        Secret   `json:"password"`
	KeyPatterns     []string `json:"keyPatterns"`
	ChannelPatterns []string `json:"channelPatterns"`
	Commands        string   `json:"commands"`
}

// Host names the host's shared services.
type Host struct {
	ValkeyService   string `json:"valkeyService"`
	NginxService    string `json:"nginxService"`
	PostgresService string `json:"postgresService"`
	ValkeyGroup     string `json:"valkeyGroup"`
}

// Secret is a resolved secret. Value is the plaintext: renderers may hash
// it or write it under --secrets-out, never anywhere else. Source says
// where it came from, for messages ("environment variable X").
type Secret struct {
	Value  string `json:"-"`
	Source string `json:"-"`
	// Unresolved is a reference that was not read (Options.AllowUnresolved):
	// Value is empty, and the Config must not be rendered.
	Unresolved bool `json:"-"`
	ref        secretRef
}

// secretRef is a secret as written in the configuration.
type secretRef struct {
	Literal *string
	Env     string `json:"env"`
	File    string `json:"file"`
}

// String never shows the plaintext, so a stray %v cannot leak it.
func (s Secret) String() string { return "<secret from " + s.Source + ">" }

// GoString keeps %#v from leaking the plaintext too.
func (s Secret) GoString() string { return s.String() }

// UnmarshalJSON reads the reference form; resolution happens in Load.
func (s *Secret) UnmarshalJSON(b []byte) error {
	var lit string
	if err := json.Unmarshal(b, &lit); err == nil {
		s.ref = secretRef{Literal: &lit}
		return nil
	}
	var r secretRef
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	s.ref = r
	return nil
}

// Secrets lists every secret of the configuration with its config path, in
// a fixed order: that of SecretFields, list elements in order.
func (c *Config) Secrets() []NamedSecret {
	var out []NamedSecret
	for _, f := range SecretFields {
		for i, s := range f.in(c) {
			out = append(out, NamedSecret{strings.Replace(f.Path, "*", strconv.Itoa(i), 1), s})
		}
	}
	return out
}

// hasSetting reports whether immich.settings sets a config path.
func (c *Config) hasSetting(p string) bool {
	rest, ok := strings.CutPrefix(p, "immich.settings.")
	if !ok {
		return false
	}
	var v any = c.Immich.Settings
	for _, elem := range strings.Split(rest, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return false
		}
		if v, ok = m[elem]; !ok {
			return false
		}
	}
	return true
}

// settingSecret is SecretField.in for a secret setting: its secret when
// the configuration sets it, kept beside Settings (which holds the
// reference as written).
func settingSecret(p string) func(*Config) []*Secret {
	full := "immich.settings." + p
	return func(c *Config) []*Secret {
		if !c.hasSetting(full) {
			return nil
		}
		if c.Immich.settingsSecrets == nil {
			c.Immich.settingsSecrets = map[string]*Secret{}
		}
		if c.Immich.settingsSecrets[full] == nil {
			c.Immich.settingsSecrets[full] = &Secret{}
		}
		return []*Secret{c.Immich.settingsSecrets[full]}
	}
}

// SettingSecrets lists the secret settings the configuration sets, with
// their paths under immich.settings ("oauth.clientSecret").
func (c *Config) SettingSecrets() []NamedSecret {
	var out []NamedSecret
	for _, ns := range c.Secrets() {
		if rest, ok := strings.CutPrefix(ns.Path, "immich.settings."); ok {
			out = append(out, NamedSecret{rest, ns.Secret})
		}
	}
	return out
}

// SecretAt is the secret at a concrete path of SecretFields, such as
// "immich.postgres.password" or "valkey.users.0.password", or nil when
// the configuration has none there.
func (c *Config) SecretAt(p string) *Secret {
	for _, ns := range c.Secrets() {
		if ns.Path == p {
			return ns.Secret
		}
	}
	return nil
}

// Unresolved lists the secrets that were not read (Options.AllowUnresolved).
func (c *Config) Unresolved() []NamedSecret {
	var out []NamedSecret
	for _, ns := range c.Secrets() {
		if ns.Secret.Unresolved {
			out = append(out, ns)
		}
	}
	return out
}

// NamedSecret is a secret and its config path.
type NamedSecret struct {
	Path   string
	Secret *Secret
}
