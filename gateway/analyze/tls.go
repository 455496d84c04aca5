package analyze

import (
	"cmp"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// expirySoon is how close to expiry a certificate draws a warning.
const expirySoon = 30 * 24 * time.Hour

// tlsListener is one listener that terminates TLS with certificateRefs.
type tlsListener struct {
	owner    resource.Key // the Gateway or ListenerSet
	name     string
	port     int32
	hostname string
	protocol gwapiv1.ProtocolType
	refs     []gwapiv1.SecretObjectReference
}

func (l tlsListener) String() string { return fmt.Sprintf("listener %q", l.name) }

// terminatingListeners lists the listeners with certificates, Gateways first,
// in Set order.
func terminatingListeners(set *resource.Set) []tlsListener {
	var out []tlsListener
	add := func(owner resource.Key, name gwapiv1.SectionName, port gwapiv1.PortNumber, proto gwapiv1.ProtocolType, host *gwapiv1.Hostname, cfg *gwapiv1.ListenerTLSConfig) {
		if cfg == nil || len(cfg.CertificateRefs) == 0 {
			return
		}
		if cfg.Mode != nil && *cfg.Mode != gwapiv1.TLSModeTerminate {
			return
		}
		l := tlsListener{owner: owner, name: string(name), port: int32(port), protocol: proto, refs: cfg.CertificateRefs}
		if host != nil {
			l.hostname = string(*host)
		}
		out = append(out, l)
	}
	for g := range set.Gateways.Values() {
		for _, l := range g.Spec.Listeners {
			add(key(resource.KindGateway, g.Namespace, g.Name), l.Name, l.Port, l.Protocol, l.Hostname, l.TLS)
		}
	}
	for s := range set.ListenerSets.Values() {
		for _, l := range s.Spec.Listeners {
			add(key(resource.KindListenerSet, s.Namespace, s.Name), l.Name, l.Port, l.Protocol, l.Hostname, l.TLS)
		}
	}
	slices.SortStableFunc(out, func(a, b tlsListener) int {
		return cmp.Or(cmp.Compare(a.owner.Kind, b.owner.Kind), cmp.Compare(a.owner.Namespace, b.owner.Namespace),
			cmp.Compare(a.owner.Name, b.owner.Name), cmp.Compare(a.name, b.name))
	})
	return out
}

// secretRef resolves a certificateRef to a Secret name; ok is false for
// kinds other than core Secrets.
func secretRef(ref gwapiv1.SecretObjectReference, from string) (nsName, bool) {
	if ref.Group != nil && *ref.Group != "" && *ref.Group != "core" {
		return nsName{}, false
	}
	if ref.Kind != nil && *ref.Kind != resource.KindSecret {
		return nsName{}, false
	}
	return nsName{refNamespace(ref.Namespace, from), string(ref.Name)}, true
}

// certInfo is the result of checking one Secret.
type certInfo struct {
	cert *x509.Certificate
	// problem is set when the Secret cannot be used; code says which kind.
	code    Code
	problem string
}

func secretBytes(s *corev1.Secret, k string) []byte {
	if b, ok := s.Data[k]; ok {
		return b
	}
	if v, ok := s.StringData[k]; ok {
		return []byte(v)
	}
	return nil
}

// checkSecret parses a certificate Secret.
func checkSecret(s *corev1.Secret) certInfo {
	crt, keyPEM := secretBytes(s, corev1.TLSCertKey), secretBytes(s, corev1.TLSPrivateKeyKey)
	if len(crt) == 0 || len(keyPEM) == 0 {
		return certInfo{code: TLSSecretMalformed, problem: "has no tls.crt or no tls.key"}
	}
	block, _ := pem.Decode(crt)
	for block != nil && block.Type != "CERTIFICATE" {
		block, _ = pem.Decode(block.Bytes)
	}
	if block == nil {
		return certInfo{code: TLSSecretMalformed, problem: "tls.crt holds no PEM certificate"}
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return certInfo{code: TLSSecretMalformed, problem: fmt.Sprintf("tls.crt does not parse: %v", err)}
	}
	if _, err := tls.X509KeyPair(crt, keyPEM); err != nil {
		if !parsesAsKey(keyPEM) {
			return certInfo{cert: cert, code: TLSSecretMalformed, problem: "tls.key holds no PEM private key"}
		}
		return certInfo{cert: cert, code: CertificateKeyMismatch, problem: "tls.key does not match the certificate in tls.crt"}
	}
	return certInfo{cert: cert}
}

func parsesAsKey(b []byte) bool {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return false
		}
		if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			return true
		}
		if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			return true
		}
		if _, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
			return true
		}
	}
}

// certCovers tells whether cert is valid for host (a name or "*.suffix").
func certCovers(cert *x509.Certificate, host string) bool {
	if strings.HasPrefix(host, "*.") {
		for _, n := range cert.DNSNames {
			if strings.EqualFold(n, host) {
				return true
			}
		}
		return false
	}
	return cert.VerifyHostname(host) == nil
}

// secretCache checks each Secret once per Context.
type secretCache map[nsName]certInfo

func (c secretCache) get(s *corev1.Secret) certInfo {
	n := nsName{s.Namespace, s.Name}
	if ci, ok := c[n]; ok {
		return ci
	}
	ci := checkSecret(s)
	c[n] = ci
	return ci
}

// tlsSecretAnalyzer checks the certificate Secrets of TLS listeners.
type tlsSecretAnalyzer struct{}

func (tlsSecretAnalyzer) Name() string { return "tls-secrets" }
func (tlsSecretAnalyzer) Description() string {
	return "listener certificate Secrets exist, parse, match their key, are in date and cover the hostname"
}

func (tlsSecretAnalyzer) Run(ctx *Context) {
	idx := ctx.index()
	cache := secretCache{}
	for _, l := range terminatingListeners(ctx.Set) {
		for i, ref := range l.refs {
			n, ok := secretRef(ref, l.owner.Namespace)
			if !ok {
				continue
			}
			s, found := idx.secrets[n]
			if !found {
				ctx.Report(TLSSecretNotFound, l.owner, "%s: certificateRefs[%d]: Secret %s does not exist", l, i, n)
				continue
			}
			ci := cache.get(s)
			if ci.code != "" {
				ctx.Report(ci.code, l.owner, "%s: certificateRefs[%d]: Secret %s %s", l, i, n, ci.problem)
			}
			if ci.cert == nil {
				continue
			}
			checkValidity(ctx, l, n, ci.cert)
		}
	}
}

func checkValidity(ctx *Context, l tlsListener, n nsName, cert *x509.Certificate) {
	day := "2006-01-02"
	switch {
	case ctx.Now.After(cert.NotAfter):
		ctx.Report(CertificateExpired, l.owner, "%s: the certificate in Secret %s expired on %s", l, n, cert.NotAfter.UTC().Format(day))
	case ctx.Now.Before(cert.NotBefore):
		ctx.Report(CertificateExpired, l.owner, "%s: the certificate in Secret %s is not valid before %s", l, n, cert.NotBefore.UTC().Format(day))
	case cert.NotAfter.Sub(ctx.Now) < expirySoon:
		ctx.Report(CertificateExpiresSoon, l.owner, "%s: the certificate in Secret %s expires on %s", l, n, cert.NotAfter.UTC().Format(day))
	}
	if l.hostname != "" && !certCovers(cert, l.hostname) {
		ctx.Report(CertificateHostname, l.owner, "%s: the certificate in Secret %s is not valid for hostname %s (DNS names: %s)", l, n, l.hostname, strings.Join(cert.DNSNames, ", "))
	}
}

// certCoalescingAnalyzer finds one certificate served on several HTTPS
// listeners that covers their hostnames.
type certCoalescingAnalyzer struct{}

func (certCoalescingAnalyzer) Name() string { return "cert-coalescing" }
func (certCoalescingAnalyzer) Description() string {
	return "one certificate is not shared by HTTPS listeners whose hostnames it covers (HTTP/2 connection reuse)"
}

type certUse struct {
	l      tlsListener
	secret nsName
	cert   *x509.Certificate
}

func (certCoalescingAnalyzer) Run(ctx *Context) {
	idx := ctx.index()
	cache := secretCache{}
	groups := map[[32]byte][]certUse{}
	var order [][32]byte
	for _, l := range terminatingListeners(ctx.Set) {
		if l.protocol != gwapiv1.HTTPSProtocolType {
			continue
		}
		for _, ref := range l.refs {
			n, ok := secretRef(ref, l.owner.Namespace)
			if !ok {
				continue
			}
			s, found := idx.secrets[n]
			if !found {
				continue
			}
			ci := cache.get(s)
			if ci.cert == nil {
				continue
			}
			id := sha256.Sum256(ci.cert.Raw)
			if _, seen := groups[id]; !seen {
				order = append(order, id)
			}
			groups[id] = append(groups[id], certUse{l: l, secret: n, cert: ci.cert})
		}
	}
	for _, id := range order {
		reportCoalescing(ctx, groups[id])
	}
}

// reportCoalescing reports one certificate served on several listeners
// whose hostnames it covers, once per Gateway (or ListenerSet) involved.
func reportCoalescing(ctx *Context, uses []certUse) {
	var distinct []certUse
	seen := map[string]bool{}
	for _, u := range uses {
		id := u.l.owner.String() + "/" + u.l.name
		if !seen[id] {
			seen[id] = true
			distinct = append(distinct, u)
		}
	}
	var members []certUse
	hosts := map[string]bool{}
	for i, u := range distinct {
		if servesCertName(i, distinct) {
			hosts[u.l.hostname] = true
			members = append(members, u)
		}
	}
	if len(members) < 2 || len(hosts) < 2 {
		return // listeners with the same hostname serve the same routes
	}
	secrets := map[nsName]bool{}
	var secretNames []string
	for _, m := range members {
		if !secrets[m.secret] {
			secrets[m.secret] = true
			secretNames = append(secretNames, "Secret "+m.secret.String())
		}
	}
	reported := map[resource.Key]bool{}
	for _, m := range members {
		if reported[m.l.owner] {
			continue
		}
		reported[m.l.owner] = true
		var names []string
		for _, o := range members {
			name := fmt.Sprintf("%s (%s)", o.l, hostOrAny(o.l.hostname))
			if o.l.owner != m.l.owner {
				name = fmt.Sprintf("%s %s", o.l.owner, name)
			}
			names = append(names, name)
		}
		ctx.Report(CertificateCoalescing, m.l.owner,
			"one certificate (%s) is served on %d HTTPS listeners and is valid for names each of them serves: %s; HTTP/2 clients may reuse one listener's connection for another's hostname and get 404 or 421",
			strings.Join(secretNames, ", "), len(members), listSome(names, 8))
	}
}

// servesCertName tells whether listener uses[i] serves at least one name
// its certificate is valid for: its own exact hostname; for a wildcard or
// empty hostname, a certificate name no other listener of the group claims.
func servesCertName(i int, uses []certUse) bool {
	u := uses[i]
	if u.l.hostname != "" && !strings.HasPrefix(u.l.hostname, "*.") {
		return certCovers(u.cert, u.l.hostname)
	}
	for _, san := range u.cert.DNSNames {
		if u.l.hostname != "" && !wildcardMatches(u.l.hostname, san) {
			continue
		}
		if !claimedByOther(san, i, uses) {
			return true
		}
	}
	return false
}

// claimedByOther tells whether a listener other than uses[i] is more
// specific for name: it names it exactly, or (against a listener without a
// hostname) with a wildcard.
func claimedByOther(name string, i int, uses []certUse) bool {
	for j, o := range uses {
		if j == i || o.l.hostname == "" {
			continue
		}
		if strings.EqualFold(o.l.hostname, name) {
			return true
		}
		if uses[i].l.hostname == "" && wildcardMatches(o.l.hostname, name) {
			return true
		}
	}
	return false
}

// wildcardMatches tells whether "*.suffix" matches name (one label deep, or
// the same wildcard).
func wildcardMatches(wildcard, name string) bool {
	suffix, ok := strings.CutPrefix(wildcard, "*")
	if !ok {
		return false
	}
	if strings.EqualFold(wildcard, name) {
		return true
	}
	label, ok := strings.CutSuffix(strings.ToLower(name), strings.ToLower(suffix))
	return ok && label != "" && !strings.Contains(label, ".") && label != "*"
}

func hostOrAny(h string) string {
	if h == "" {
		return "any hostname"
	}
	return h
}
