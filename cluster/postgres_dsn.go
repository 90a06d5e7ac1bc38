package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Postgres keeps the server's data in two databases: the one the DSN names
// (executions, default "temporal") and NAME_visibility. They cannot share
// one: both schemas keep their version in a table of the same name.
type postgresDSN struct {
	raw        string
	host, port string
	user, pass string
	db         string
	attrs      map[string]string
}

// parsePostgresDSN reads postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=...
func parsePostgresDSN(dsn string) (*postgresDSN, error) {
	const want = "want postgres://USER:PASSWORD@HOST:PORT/DATABASE, e.g. postgres://postgres:squall@127.0.0.1:55432/temporal?sslmode=disable"
	if dsn == "" {
		return nil, Usagef("--persistence postgres needs --dsn (%s)", want)
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		return nil, Usagef("bad --dsn %q: %s", RedactDSN(dsn), want)
	}
	d := &postgresDSN{raw: dsn, host: u.Hostname(), port: u.Port(), user: u.User.Username(), attrs: map[string]string{}}
	d.pass, _ = u.User.Password()
	if d.port == "" {
		d.port = "5432"
	}
	if d.user == "" {
		return nil, Usagef("bad --dsn %q: no user (%s)", RedactDSN(dsn), want)
	}
	d.db = strings.TrimPrefix(u.Path, "/")
	if d.db == "" {
		d.db = "temporal"
	}
	if strings.ContainsAny(d.db, `/"`) {
		return nil, Usagef("bad --dsn %q: database name %q (%s)", RedactDSN(dsn), d.db, want)
	}
	for k, v := range u.Query() {
		d.attrs[k] = v[len(v)-1]
	}
	if _, ok := d.attrs["sslmode"]; !ok {
		d.attrs["sslmode"] = "disable"
	}
	return d, nil
}

// RedactDSN hides the password of a DSN in anything squall writes. A DSN
// that does not parse is not shown at all: where its password ends is
// unknown.
func RedactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(a DSN that does not parse; not shown)"
	}
	if u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); !has {
		return dsn
	}
	// url would escape the stars: put the user back by hand.
	user := url.User(u.User.Username()).String()
	u.User = nil
	scheme, rest, _ := strings.Cut(u.String(), "://")
	return scheme + "://" + user + ":" + Redacted + "@" + rest
}

func (d *postgresDSN) visibilityDB() string { return d.db + "_visibility" }

func (d *postgresDSN) connString(db string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(d.user, d.pass), Host: net.JoinHostPort(d.host, d.port), Path: "/" + db}
	q := url.Values{}
	for k, v := range d.attrs {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// connect opens one plain connection, turning the usual failures (nothing
// listening, wrong password, unknown role) into one-line usage errors: the
// server's own SQL layer would only retry and log.
func (d *postgresDSN) connect(ctx context.Context, db string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, d.connString(db))
	if err == nil {
		return c, nil
	}
	where := net.JoinHostPort(d.host, d.port)
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && (pe.Code == "28P01" || pe.Code == "28000"):
		return nil, Usagef("postgres at %s refused user %q: %s (check the user and password in --dsn)", where, d.user, pe.Message)
	case errors.As(err, &pe) && pe.Code == "3D000":
		return nil, &missingDBError{db: db, err: err}
	case errors.As(err, &pe):
		return nil, Usagef("postgres at %s: %s (SQLSTATE %s)", where, pe.Message, pe.Code)
	case ctx.Err() != nil:
		return nil, Usagef("postgres at %s did not answer within 10s: check the host and port in --dsn (scripts/ensure-postgres.sh starts a local one)", where)
	default:
		return nil, Usagef("cannot reach postgres at %s: %v (check the host and port in --dsn; scripts/ensure-postgres.sh starts a local one)", where, lastCause(err))
	}
}

type missingDBError struct {
	db  string
	err error
}

func (e *missingDBError) Error() string { return fmt.Sprintf("database %q does not exist", e.db) }

// lastCause drops pgconn's long "failed to connect to ..." prefixes.
func lastCause(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		return s[i+2:]
	}
	return s
}

// ensureDatabases creates the two databases when absent. It connects to
// the target database first, so a user who may not create databases can
// still use ones an administrator prepared.
func (d *postgresDSN) ensureDatabases(ctx context.Context) error {
	var missing []string
	for _, db := range []string{d.db, d.visibilityDB()} {
		c, err := d.connect(ctx, db)
		var m *missingDBError
		switch {
		case errors.As(err, &m):
			missing = append(missing, db)
		case err != nil:
			return err
		default:
			_ = c.Close(ctx)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	admin, err := d.connect(ctx, "postgres")
	if err != nil {
		var m *missingDBError
		if errors.As(err, &m) {
			return Usagef("databases %s are missing and there is no database \"postgres\" to create them from: create them first", strings.Join(missing, ", "))
		}
		return err
	}
	defer admin.Close(ctx)
	for _, db := range missing {
		if _, err := admin.Exec(ctx, `CREATE DATABASE "`+db+`"`); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "42P04" { // created meanwhile by another server
				continue
			}
			if errors.As(err, &pe) && pe.Code == "42501" {
				return Usagef("postgres user %q may not create database %s: create it (and %s) first, or use a user with CREATEDB", d.user, db, d.visibilityDB())
			}
			return fmt.Errorf("create database %s: %w", db, err)
		}
	}
	return nil
}

// DSNWithDatabaseSuffix is dsn naming the database DB_suffix instead of
// DB: a search over cluster shapes gives each shard count a database of
// its own, since a database's shard count is fixed when it is created.
func DSNWithDatabaseSuffix(dsn, suffix string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", Usagef("bad --dsn %s: %v", RedactDSN(dsn), err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = "temporal"
	}
	u.Path = "/" + db + "_" + suffix
	return u.String(), nil
}
