// Command standin plays Immich's two containers in the deploy rehearsal
// (package rehearsal): a static binary imported into images tagged exactly
// as the rendered compose file names Immich's, so that file runs unchanged.
// It is not Immich: it does, against the real host services, what Immich
// needs to do at start-up, and reports each step.
//
// What it does depends on its name or first argument:
//
//	standin server        immich-server: the start-up steps, then HTTP and a websocket on IMMICH_PORT (2283)
//	standin ml            immich-machine-learning: HTTP on 3003
//	immich-healthcheck    the server's compose healthcheck
//	python3 healthcheck.py  the machine-learning compose healthcheck
//	standin upload-client URL CAFILE MB   an upload through a proxy, which must stream it
//	standin websocket-client URL CAFILE   a websocket upgrade through a proxy
//
// Every step prints one line to stdout:
//
//	rehearsal step=NAME ok=true ms=12 detail="..."
//
// and the server prints "rehearsal ready" once it serves, or exits 1
// after the first failed step, as Immich does when it cannot start.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args[1:]
	if name == "standin" && len(args) > 0 {
		name, args = args[0], args[1:]
	}
	switch name {
	case "server":
		os.Exit(server())
	case "ml":
		os.Exit(ml())
	case "immich-healthcheck":
		os.Exit(healthcheck("http://127.0.0.1:" + port() + "/api/server/ping"))
	case "upload-client":
		os.Exit(uploadClient(args))
	case "websocket-client":
		os.Exit(websocketClient(args))
	case "python3":
		if len(args) == 1 && args[0] == "healthcheck.py" {
			os.Exit(healthcheck("http://127.0.0.1:3003/ping"))
		}
	}
	fmt.Fprintf(os.Stderr, "standin: unknown mode %s %q\n", name, args)
	os.Exit(2)
}

func port() string {
	if p := os.Getenv("IMMICH_PORT"); p != "" {
		return p
	}
	return "2283"
}

func healthcheck(url string) int {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

// step runs one start-up step and reports it.
func step(name string, f func() (string, error)) error {
	start := time.Now()
	detail, err := f()
	ms := time.Since(start).Milliseconds()
	if err != nil {
		fmt.Printf("rehearsal step=%s ok=false ms=%d detail=%q\n", name, ms, err.Error())
		return err
	}
	fmt.Printf("rehearsal step=%s ok=true ms=%d detail=%q\n", name, ms, detail)
	return nil
}

// secretFile reads a _FILE variable's file as Immich does: trimmed.
func secretFile(env string) (string, error) {
	p := os.Getenv(env)
	if p == "" {
		return "", fmt.Errorf("%s is not set", env)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", env, err)
	}
	return strings.TrimSpace(string(b)), nil
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// vectorExtensions are the extensions DB_VECTOR_EXTENSION needs, besides
// the ones every Immich needs.
func vectorExtensions(kind string) []string {
	switch kind {
	case "vectorchord":
		return []string{"vector", "vchord"}
	case "pgvector":
		return []string{"vector"}
	case "pgvecto.rs":
		return []string{"vectors"}
	}
	return nil
}

func server() int {
	ctx := context.Background()
	var dbPassword, redisPassword string
	var db *pgx.Conn
	var rdb *redis.Client
	steps := []struct {
		name string
		f    func() (string, error)
	}{
		{"secrets", func() (string, error) {
			var err error
			if dbPassword, err = secretFile("DB_PASSWORD_FILE"); err != nil {
				return "", err
			}
			if redisPassword, err = secretFile("REDIS_PASSWORD_FILE"); err != nil {
				return "", err
			}
			return "read DB_PASSWORD_FILE and REDIS_PASSWORD_FILE", nil
		}},
		{"postgres-connect", func() (string, error) {
			cfg, err := pgx.ParseConfig("sslmode=disable connect_timeout=5")
			if err != nil {
				return "", err
			}
			cfg.Host = os.Getenv("DB_HOSTNAME")
			cfg.Port = uint16(envInt("DB_PORT", 5432))
			cfg.User = os.Getenv("DB_USERNAME")
			cfg.Password = dbPassword
			cfg.Database = os.Getenv("DB_DATABASE_NAME")
			c, ctxCancel := context.WithTimeout(ctx, 10*time.Second)
			defer ctxCancel()
			if db, err = pgx.ConnectConfig(c, cfg); err != nil {
				return "", err
			}
			var user, addr string
			if err := db.QueryRow(ctx, "SELECT current_user, host(inet_server_addr())").Scan(&user, &addr); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s@%s:%d as %s (server address %s)", cfg.Database, cfg.Host, cfg.Port, user, addr), nil
		}},
		{"postgres-extensions", func() (string, error) {
			want := append(vectorExtensions(os.Getenv("DB_VECTOR_EXTENSION")), "cube", "earthdistance", "unaccent", "uuid-ossp", "pg_trgm")
			rows, err := db.Query(ctx, "SELECT extname FROM pg_extension")
			if err != nil {
				return "", err
			}
			have, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return "", err
			}
			var missing []string
			for _, e := range want {
				if !slices.Contains(have, e) {
					missing = append(missing, e)
				}
			}
			if len(missing) > 0 {
				return "", fmt.Errorf("extensions missing for DB_VECTOR_EXTENSION=%s: %s", os.Getenv("DB_VECTOR_EXTENSION"), strings.Join(missing, ", "))
			}
			return strings.Join(want, ", "), nil
		}},
		{"postgres-ddl", func() (string, error) {
			for _, sql := range []string{
				"CREATE TABLE public.rehearsal_standin (id uuid PRIMARY KEY DEFAULT uuid_generate_v4(), note text)",
				"INSERT INTO public.rehearsal_standin (note) VALUES ('immich-render rehearsal')",
				"DROP TABLE public.rehearsal_standin",
			} {
				if _, err := db.Exec(ctx, sql); err != nil {
					return "", fmt.Errorf("%s: %w", sql, err)
				}
			}
			if os.Getenv("DB_VECTOR_EXTENSION") != "pgvector" {
				return "created, filled and dropped a table in public", nil
			}
			// What Immich's smart search needs of pgvector: a vector(512)
			// column and an HNSW index, created as the Immich role. The
			// table stays, for the backup and restore to carry.
			for _, sql := range []string{
				"CREATE TABLE IF NOT EXISTS public.rehearsal_embedding (id int PRIMARY KEY, embedding vector(512))",
				"CREATE INDEX IF NOT EXISTS rehearsal_embedding_hnsw ON public.rehearsal_embedding USING hnsw (embedding vector_cosine_ops)",
				"INSERT INTO public.rehearsal_embedding SELECT 1, array_fill(0.5, ARRAY[512])::vector ON CONFLICT DO NOTHING",
			} {
				if _, err := db.Exec(ctx, sql); err != nil {
					return "", fmt.Errorf("%s: %w", sql, err)
				}
			}
			var version string
			if err := db.QueryRow(ctx, "SELECT extversion FROM pg_extension WHERE extname = 'vector'").Scan(&version); err != nil {
				return "", err
			}
			return "a table in public; a vector(512) column with an HNSW index (pgvector " + version + ")", nil
		}},
		{"valkey-connect", func() (string, error) {
			rdb = redis.NewClient(&redis.Options{
				Addr:        net.JoinHostPort(os.Getenv("REDIS_HOSTNAME"), strconv.Itoa(envInt("REDIS_PORT", 6379))),
				Username:    os.Getenv("REDIS_USERNAME"),
				Password:    redisPassword,
				DB:          envInt("REDIS_DBINDEX", 0),
				DialTimeout: 5 * time.Second,
				MaxRetries:  -1,
				Protocol:    2,
				// go-redis would send CLIENT SETINFO as ioredis does (the ACL
				// grants it); the stand-in need not.

				DisableIdentity: true,
			})
			if err := rdb.Ping(ctx).Err(); err != nil {
				return "", err
			}
			info, err := rdb.Info(ctx, "server").Result()
			if err != nil {
				return "", fmt.Errorf("INFO (BullMQ reads the server version): %w", err)
			}
			version := ""
			for _, l := range strings.Split(info, "\n") {
				// Valkey reports redis_version 7.2.4 for clients' sake, and its own.
				if v, ok := strings.CutPrefix(l, "redis_version:"); ok && version == "" {
					version = strings.TrimSpace(v)
				}
				if v, ok := strings.CutPrefix(l, "valkey_version:"); ok {
					version = "valkey " + strings.TrimSpace(v)
				}
			}
			return "PING, SELECT and INFO as " + os.Getenv("REDIS_USERNAME") + ", server " + version, nil
		}},
		{"valkey-lua", func() (string, error) {
			script := redis.NewScript(`redis.call('HSET', KEYS[1], 'state', ARGV[1]); return redis.call('HGET', KEYS[1], 'state')`)
			key := "immich_bull:rehearsal:" + randHex()
			got, err := script.Run(ctx, rdb, []string{key}, "active").Text()
			if err != nil {
				return "", err
			}
			if got != "active" {
				return "", fmt.Errorf("script returned %q", got)
			}
			if err := rdb.Del(ctx, key).Err(); err != nil {
				return "", err
			}
			return "EVALSHA/EVAL on " + key, nil
		}},
		{"valkey-pubsub", func() (string, error) {
			channel := "immich_channel#rehearsal#" + randHex()
			sub := rdb.Subscribe(ctx, channel)
			defer sub.Close()
			if _, err := sub.Receive(ctx); err != nil {
				return "", err
			}
			if err := rdb.Publish(ctx, channel, "hello").Err(); err != nil {
				return "", err
			}
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			msg, err := sub.ReceiveMessage(c)
			if err != nil {
				return "", err
			}
			return "SUBSCRIBE/PUBLISH on " + msg.Channel, nil
		}},
		{"valkey-noperm", func() (string, error) {
			err := rdb.FlushAll(ctx).Err()
			if err == nil {
				return "", errors.New("FLUSHALL succeeded: the ACL lets Immich flush the whole server")
			}
			if !strings.HasPrefix(err.Error(), "NOPERM") {
				return "", fmt.Errorf("FLUSHALL: want NOPERM, got %v", err)
			}
			return "FLUSHALL refused: " + err.Error(), nil
		}},
		{"machine-learning", func() (string, error) {
			url := os.Getenv("IMMICH_MACHINE_LEARNING_URL")
			if url == "" {
				url = "http://immich-machine-learning:3003" // Immich's default
			}
			// Immich keeps trying the machine-learning server; so does this,
			// for a while: the name may not resolve at the first attempt.
			c := http.Client{Timeout: 5 * time.Second}
			var last error
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
				resp, err := c.Get(url + "/ping")
				if err != nil {
					last = err
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(body) != "pong" {
					return "", fmt.Errorf("GET %s/ping: %s %q", url, resp.Status, body)
				}
				return "GET " + url + "/ping: pong", nil
			}
			return "", last
		}},
		{"upload", func() (string, error) {
			dir := "/data/rehearsal"
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return "", err
			}
			name := filepath.Join(dir, "standin.txt")
			if err := os.WriteFile(name, []byte("written by the immich-server stand-in\n"), 0o644); err != nil {
				return "", err
			}
			return "wrote " + name, nil
		}},
	}
	for _, s := range steps {
		if err := step(s.name, s.f); err != nil {
			return 1
		}
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/api/server/ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"res":"pong","forwardedFor":%q,"host":%q}`, r.Header.Get("X-Forwarded-For"), r.Host)
	})
	mux.HandleFunc("/api/socket.io/", websocket)
	mux.HandleFunc("/api/rehearsal/upload", upload)
	mux.HandleFunc("/api/rehearsal/upload-progress", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, uploaded.Load())
	})
	l, err := net.Listen("tcp", ":"+port())
	if err != nil {
		step("serve", func() (string, error) { return "", err })
		return 1
	}
	step("serve", func() (string, error) { return "HTTP and websocket on :" + port(), nil })
	fmt.Println("rehearsal ready")
	if err := http.Serve(l, mux); err != nil {
		fmt.Println("rehearsal serve:", err)
		return 1
	}
	return 0
}

// websocket accepts an RFC 6455 upgrade, sends one text frame and closes:
// enough to show that the upgrade crosses nginx.
func websocket(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") || key == "" {
		http.Error(w, "websocket upgrade expected", http.StatusBadRequest)
		return
	}
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(h[:]))
	msg := "hello from the immich-server stand-in"
	rw.Write(append([]byte{0x81, byte(len(msg))}, msg...))
	rw.Flush()
	// Wait for the client to close, so the frame is not cut off by a reset.
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	bufio.NewReader(conn).ReadByte()
}

func ml() int {
	mux := http.NewServeMux()
	mux.HandleFunc("/ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
	fmt.Println("rehearsal machine learning on :3003")
	if err := http.ListenAndServe(":3003", mux); err != nil {
		fmt.Println("rehearsal serve:", err)
		return 1
	}
	return 0
}

func randHex() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}
