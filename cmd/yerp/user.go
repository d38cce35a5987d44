package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/yerp/yerp/engine/auth"
)

const userUsage = `usage: yerp user COMMAND [flags]

  add USERNAME --roles a,b [--name N] [--lang zh-CN|en] [--password-stdin]
                           create a user; without --password-stdin a password
                           is generated, printed once, and must be changed
  passwd USERNAME [--password-stdin]
                           set a new password (generated when not read from stdin)
  roles USERNAME a,b       replace the user's roles ("" for none)
  list                     every user
  disable USERNAME         disable a user: login and every session and token stop
  enable USERNAME          enable a disabled user

flags: --data DIR, --store URI
`

// stdin is where --password-stdin reads; tests replace it.
var stdin io.Reader = os.Stdin

// userCmd runs "yerp user ...": one call of the auth service.
func userCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, userUsage)
		return 2
	}
	cmd := args[0]
	fs := flag.NewFlagSet("user "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	data, storeURI := storeFlags(fs)
	roles := fs.String("roles", "", "add: comma-separated roles (admin, sales, ...)")
	name := fs.String("name", "", "add: display name (default: the username)")
	lang := fs.String("lang", "", "add: language, zh-CN (default) or en")
	fromStdin := fs.Bool("password-stdin", false, "add, passwd: read the password from the first line of stdin")
	a, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return 2
	}
	want := map[string]int{"add": 1, "passwd": 1, "roles": 2, "list": 0, "disable": 1, "enable": 1}
	n, known := want[cmd]
	if !known {
		fmt.Fprintf(stderr, "yerp user: unknown command %q\n\n%s", cmd, userUsage)
		return 2
	}
	if len(a) != n {
		fmt.Fprintf(stderr, "yerp user %s: want %d argument(s), got %d\n\n%s", cmd, n, len(a), userUsage)
		return 2
	}
	var password string
	if *fromStdin {
		if cmd != "add" && cmd != "passwd" {
			fmt.Fprintf(stderr, "yerp user %s: --password-stdin is for add and passwd\n", cmd)
			return 2
		}
		if password, err = readPassword(stdin); err != nil {
			return userFail(stderr, cmd, err)
		}
	}

	st, _, err := openStore(ctx, *storeURI, *data)
	if err != nil {
		return userFail(stderr, cmd, err)
	}
	defer st.Close()
	svc, err := auth.New(st, auth.Options{})
	if err != nil {
		return userFail(stderr, cmd, err)
	}

	switch cmd {
	case "list":
		users, err := svc.Users(ctx)
		if err != nil {
			return userFail(stderr, cmd, err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "USERNAME\tNAME\tROLES\tLANG\tSTATUS\tCREATED")
		for _, u := range users {
			status := "active"
			if u.Disabled {
				status = "disabled"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, u.Name, strings.Join(u.Roles, ","), u.Language, status, u.CreatedAt.Format("2006-01-02 15:04"))
		}
		if err := tw.Flush(); err != nil {
			return userFail(stderr, cmd, err)
		}
		return 0
	case "add":
		generated := password == ""
		if generated {
			password = auth.GeneratePassword()
		}
		u, err := svc.CreateUser(ctx, auth.NewUser{
			Username:           a[0],
			Name:               *name,
			Roles:              splitRoles(*roles),
			Language:           *lang,
			Password:           password,
			MustChangePassword: generated,
		})
		if err != nil {
			return userFail(stderr, cmd, err)
		}
		if err := svc.Audit(ctx, auth.AuditEntry{Action: auth.AuditCreated, Actor: auth.ActorCLI, Target: u.ID, To: strings.Join(u.Roles, ",")}); err != nil {
			return userFail(stderr, cmd, err)
		}
		fmt.Fprintf(stdout, "created user %s (roles: %s)\n", u.Username, strings.Join(u.Roles, ","))
		if generated {
			printOneTime(stdout, u.Username, password)
		}
		return 0
	}

	// The other commands change one existing user.
	u, err := svc.UserByName(ctx, a[0])
	if err != nil {
		return userFail(stderr, cmd, err)
	}
	// Every change is audited like the same change made in the admin UI,
	// with the command line as its actor.
	entry := auth.AuditEntry{Actor: auth.ActorCLI, Target: u.ID}
	switch cmd {
	case "passwd":
		entry.Action = auth.AuditPasswordReset
		if password == "" {
			pw, err := svc.ResetPassword(ctx, u.ID)
			if err != nil {
				return userFail(stderr, cmd, err)
			}
			if err := svc.Audit(ctx, entry); err != nil {
				return userFail(stderr, cmd, err)
			}
			printOneTime(stdout, u.Username, pw)
			return 0
		}
		err = svc.SetPassword(ctx, u.ID, password)
	case "roles":
		entry.Action, entry.From = auth.AuditRoles, strings.Join(u.Roles, ",")
		if err = svc.SetRoles(ctx, u.ID, splitRoles(a[1])); err == nil {
			var after *auth.User
			if after, err = svc.User(ctx, u.ID); err == nil {
				entry.To = strings.Join(after.Roles, ",")
			}
		}
	case "disable":
		entry.Action = auth.AuditDisabled
		err = svc.Disable(ctx, u.ID)
	case "enable":
		entry.Action = auth.AuditEnabled
		err = svc.Enable(ctx, u.ID)
	}
	if err != nil {
		return userFail(stderr, cmd, err)
	}
	if entry.From != entry.To || entry.Action != auth.AuditRoles {
		if err := svc.Audit(ctx, entry); err != nil {
			return userFail(stderr, cmd, err)
		}
	}
	fmt.Fprintf(stdout, "%s: %s done\n", u.Username, cmd)
	return 0
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, auth.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on stdin")
	}
	return line, nil
}

func splitRoles(s string) []string {
	var roles []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			roles = append(roles, r)
		}
	}
	return roles
}

func printOneTime(w io.Writer, username, password string) {
	fmt.Fprintf(w, "one-time password for %s (shown once; to be changed at first login):\n%s\n", username, password)
}

// userFail prints an error; auth errors never hold passwords or tokens.
func userFail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "yerp user %s: %s\n", cmd, strings.TrimSpace(err.Error()))
	return 1
}
