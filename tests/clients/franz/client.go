package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Client setup: the -X properties mapped to franz-go options, and creating and closing clients.

func clientOpts(c *common) ([]kgo.Opt, error) {
	level := kgo.LogLevelWarn
	switch strings.ToLower(os.Getenv("FRANZ_DRIVER_LOG")) {
	case "debug":
		level = kgo.LogLevelDebug
	case "info":
		level = kgo.LogLevelInfo
	case "error":
		level = kgo.LogLevelError
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.bootstrap),
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, level, func() string { return "franz-go " })),
	}

	props := map[string]string{}
	var unknown []string
	for _, kv := range c.props {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("-X %q is not key=value", kv)
		}
		switch k {
		case "security.protocol", "sasl.mechanism", "sasl.username", "sasl.password",
			"ssl.ca.location", "ssl.certificate.location", "ssl.key.location",
			"ssl.endpoint.identification.algorithm", "client.id":
			props[k] = v
		default:
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unsupported -X keys: %s", strings.Join(unknown, ", "))
	}
	if id, ok := props["client.id"]; ok {
		opts = append(opts, kgo.ClientID(id))
	}

	proto := strings.ToUpper(props["security.protocol"])
	if proto == "" {
		proto = "PLAINTEXT"
	}
	var useTLS, useSASL bool
	switch proto {
	case "PLAINTEXT":
	case "SSL":
		useTLS = true
	case "SASL_PLAINTEXT":
		useSASL = true
	case "SASL_SSL":
		useTLS, useSASL = true, true
	default:
		return nil, fmt.Errorf("security.protocol %q is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", proto)
	}

	if useSASL {
		user, pass := props["sasl.username"], props["sasl.password"]
		switch mech := strings.ToUpper(props["sasl.mechanism"]); mech {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: user, Pass: pass}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()))
		case "":
			return nil, fmt.Errorf("security.protocol %s needs sasl.mechanism", proto)
		default:
			return nil, fmt.Errorf("sasl.mechanism %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", mech)
		}
	} else if props["sasl.mechanism"] != "" || props["sasl.username"] != "" {
		logf("warning: sasl.* settings ignored with security.protocol %s", proto)
	}

	if useTLS {
		cfg, err := tlsConfig(props)
		if err != nil {
			return nil, err
		}
		if c.connectTo != "" {
			// franz-go takes a Dialer or a DialTLSConfig, not both: the dialer does the TLS.
			opts = append(opts, kgo.Dialer(connectTo(c.connectTo, cfg)))
		} else {
			opts = append(opts, kgo.DialTLSConfig(cfg))
		}
	} else {
		if props["ssl.ca.location"] != "" || props["ssl.certificate.location"] != "" {
			logf("warning: ssl.* settings ignored with security.protocol %s", proto)
		}
		if c.connectTo != "" {
			opts = append(opts, kgo.Dialer(connectTo(c.connectTo, nil)))
		}
	}
	return opts, nil
}

// connectTo dials addr for every broker; with cfg, TLS follows with the broker's own host as
// the server name (SNI) and the name its certificate must carry.
func connectTo(addr string, cfg *tls.Config) func(ctx context.Context, network, host string) (net.Conn, error) {
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		var d net.Dialer
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil || cfg == nil {
			return conn, err
		}
		name, _, err := net.SplitHostPort(host)
		if err != nil {
			conn.Close()
			return nil, err
		}
		named := cfg.Clone()
		named.ServerName = name
		tlsConn := tls.Client(conn, named)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("TLS handshake with %s (dialed %s): %w", host, addr, err)
		}
		return tlsConn, nil
	}
}

// tlsConfig builds the client TLS configuration; franz-go sets ServerName to the dialed host,
// so the broker certificate is checked against the address dialed (IP SANs included).
func tlsConfig(props map[string]string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if path := props["ssl.ca.location"]; path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("ssl.ca.location: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ssl.ca.location %s: no PEM certificates found", path)
		}
		cfg.RootCAs = pool
	}
	certPath, keyPath := props["ssl.certificate.location"], props["ssl.key.location"]
	if (certPath == "") != (keyPath == "") {
		return nil, errors.New("ssl.certificate.location and ssl.key.location must be given together")
	}
	if certPath != "" {
		cert, err := tls.LoadX509KeyPair(certPath, keyPath)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %v", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	switch alg := strings.ToLower(props["ssl.endpoint.identification.algorithm"]); alg {
	case "https":
	case "", "none":
		if _, set := props["ssl.endpoint.identification.algorithm"]; !set {
			break // not given: verify the host name (the default of Java and librdkafka)
		}
		// Verify the chain against the CAs but not the host name.
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("broker sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	default:
		return nil, fmt.Errorf("ssl.endpoint.identification.algorithm %q is not https or empty", alg)
	}
	return cfg, nil
}

func newClient(opts ...kgo.Opt) *kgo.Client {
	setPhase("client setup")
	cl, err := kgo.NewClient(opts...)
	check(err)
	return cl
}

// closeClient closes cl (leaving any group), waiting at most a few seconds and never past the
// deadline: the result is already known, a slow close must not turn it into a hang.
func closeClient(cl *kgo.Client) {
	done := make(chan struct{})
	go func() { cl.Close(); close(done) }()
	wait := min(5*time.Second, time.Until(deadline)-500*time.Millisecond)
	select {
	case <-done:
	case <-time.After(max(wait, 0)):
		fmt.Fprintln(os.Stderr, "franz-driver: client close did not finish in time, continuing")
	}
}
