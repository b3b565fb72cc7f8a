// SPDX-License-Identifier: BSD-2-Clause
/*
 * The balancer's configuration (rules.h) and its choice of backend
 * (pool.h): a config with every statement parses; rules match in order
 * (Host with and without a path, *.suffix, path, SNI, a byte prefix, the
 * default); each config error names the file, the line and the way out;
 * round robin keeps the weights interleaved; least connections follows
 * conns/weight; rendezvous hashing keeps a key on its backend and moves
 * only the keys of a backend that goes down; a tried or down backend is
 * skipped, and an empty pool says so (-1); a backend's addr, addr6 and
 * mode come before its channel, and bal_config_add puts more lines (the
 * --rule flags) into a config.
 */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "tcpferry.h"
#include "first_request.h"
#include "pool.h"
#include "rules.h"

static const char config[] =
	"# two web backends, one for static files, one TLS pool\n"
	"backend web1 ssh root@10.0.0.11 tcpferry receive --send-to /run/web.sock\n"
	"backend web2 ssh root@10.0.0.12 tcpferry receive --send-to /run/web.sock\n"
	"backend files unix:/run/tcpferry/files.sock   # on this machine\n"
	"pool web roundrobin web1*3 web2\n"
	"pool static leastconn files web1*2\n"
	"pool tls hash-host web1 web2\n"
	"pool ssh hash-client web2\n"
	"match host static.example.com pool static\n"
	"match host *.example.com path /api/ pool web\n"
	"match path /download/ pool static\n"
	"match sni \"Secure.Example.COM\" pool tls\n"
	"match prefix \"SSH-\" pool ssh\n"
	"match prefix \"\\x05\\x01\" pool ssh\n"
	"default pool web\n";

static struct bal_config c;

static int route(const char *bytes)
{
	struct first_request r;

	first_request_parse((const uint8_t *)bytes, strlen(bytes), 16384, &r);
	return bal_route(&c, &r, (const uint8_t *)bytes, strlen(bytes));
}

static int pool_of(const char *name)
{
	for (int i = 0; i < c.n_pools; i++)
		if (!strcmp(c.pools[i].name, name))
			return i;
	return -2;
}

/* The error bal_config_parse gives for text, or "" if it parses. */
static const char *error_of(const char *text)
{
	struct bal_config e;

	if (bal_config_parse(text, "t.conf", &e) == 0) {
		bal_config_free(&e);
		return "";
	}
	return tf_strerror();
}

int main(void)
{
	int counts[3] = { 0 }, seq[8], err;
	bool tried[3] = { false };

	plan(40);
	err = bal_config_parse(config, "balance.conf", &c);
	ok(err == 0, "a config with every statement parses (%s)", err ? tf_strerror() : "ok");
	if (err)
		bail_out("no config");
	ok(c.n_backends == 3 && c.n_pools == 4 && c.n_rules == 6 && c.default_pool == pool_of("web"),
	   "3 backends, 4 pools, 6 rules, a default pool");
	ok(!strcmp(c.backends[0].channel, "ssh root@10.0.0.11 tcpferry receive --send-to /run/web.sock"),
	   "a backend's channel is its command line");
	ok(c.pools[0].members[0].weight == 3 && c.pools[0].members[1].weight == 1, "weights: web1*3 web2");

	/* ---- rules, in order ---- */
	is_int(route("GET /x HTTP/1.1\r\nHost: Static.Example.com\r\n\r\n"), pool_of("static"), "Host static.example.com: static");
	is_int(route("GET /api/v1 HTTP/1.1\r\nHost: a.example.com\r\n\r\n"), pool_of("web"), "*.example.com with /api/: web");
	is_int(route("GET /download/f HTTP/1.1\r\nHost: a.example.com\r\n\r\n"), pool_of("static"),
	       "*.example.com without /api/ falls through to the path rule: static");
	is_int(route("GET /api/ HTTP/1.1\r\nHost: example.com\r\n\r\n"), pool_of("web"),
	       "example.com is not *.example.com: the default (web)");
	is_int(route("SSH-2.0-OpenSSH_9.2\r\n"), pool_of("ssh"), "an SSH banner: the prefix rule");
	is_int(route("\x05\x01\x00"), pool_of("ssh"), "bytes given as \\xNN: the prefix rule");
	c.rules[1].matches = 0;
	route("GET /api/ HTTP/1.1\r\nHost: b.example.com\r\n\r\n");
	is_int((int)c.rules[1].matches, 1, "each rule counts its matches");
	c.default_pool = -1;
	is_int(route("GET / HTTP/1.0\r\n\r\n"), -1, "no rule and no default: -1 (the status is answered)");
	is_int(c.default_status, 503, "  503 unless the config says 404");
	c.default_pool = pool_of("web");

	/* ---- errors: file, line, the way out ---- */
	ok(strstr(error_of("pool p roundrobin nosuch\n"), "t.conf:1: pool p: no backend called 'nosuch' (define it with a backend line first)") != NULL,
	   "an undefined backend: file, line, what to do (%s)", error_of("pool p roundrobin nosuch\n"));
	ok(strstr(error_of("backend b x\npool p fastest b\n"), "t.conf:2:") && strstr(tf_strerror(), "roundrobin, leastconn"),
	   "an unknown policy names the ones there are");
	ok(strstr(error_of("backend b x\npool p roundrobin b*0\n"), "from 1 to 1000") != NULL, "weight 0 is refused");
	ok(strstr(error_of("backend b x\nbackend b y\n"), "defined twice") != NULL, "a name defined twice");
	ok(strstr(error_of("backend b x\npool p roundrobin b\nmatch host a pool p extra\n"), "ends in 'pool NAME'") != NULL,
	   "words after the pool name");
	ok(strstr(error_of("backend b \"x\n"), "no closing quote") != NULL, "an unclosed quote");
	ok(strstr(error_of("frontend x\n"), "no statement") != NULL, "an unknown statement");
	ok(strstr(error_of("backend b x\npool p roundrobin b\nmatch path nope pool p\n"), "starts with '/'") != NULL,
	   "a path prefix without '/'");
	ok(strstr(error_of("default status 500\n"), "404 or 503") != NULL, "default status other than 404/503");
	ok(!error_of("# nothing\n\n   \n")[0], "comments and blank lines only: an empty config");

	/* ---- round robin: 3:1, interleaved ---- */
	for (int i = 0; i < 3; i++)
		c.backends[i].up = true;
	for (int i = 0; i < 8; i++)
		seq[i] = bal_pick(&c, pool_of("web"), NULL, 0, NULL);
	for (int i = 0; i < 8; i++)
		counts[seq[i]]++;
	ok(counts[0] == 6 && counts[1] == 2, "round robin web1*3 web2 over 8: 6 and 2 (%d %d)", counts[0], counts[1]);
	ok(seq[0] == 0 && seq[1] == 0 && seq[2] == 1 && seq[3] == 0, "  interleaved (smooth): web1 web1 web2 web1 ...");
	tried[0] = true;
	is_int(bal_pick(&c, pool_of("web"), NULL, 0, tried), 1, "web1 tried already: web2");
	c.backends[1].up = false;
	is_int(bal_pick(&c, pool_of("web"), NULL, 0, tried), -1, "web1 tried and web2 down: none left (-1)");
	c.backends[1].up = true;

	/* ---- least connections, by conns/weight ---- */
	c.backends[2].conns = 3;	/* files, weight 1 */
	c.backends[0].conns = 5;	/* web1, weight 2: 2.5 */
	is_int(bal_pick(&c, pool_of("static"), NULL, 0, NULL), 0, "leastconn: web1 (5 on weight 2) before files (3 on 1)");

	/* ---- rendezvous hashing ---- */
	{
		int first[200], moved = 0, stayed_off_down = 1, same = 1;
		char key[32];

		for (int i = 0; i < 200; i++) {
			snprintf(key, sizeof(key), "host%d.example.com", i);
			first[i] = bal_pick(&c, pool_of("tls"), key, strlen(key), NULL);
			same &= bal_pick(&c, pool_of("tls"), key, strlen(key), NULL) == first[i];
		}
		c.backends[1].up = false;	/* web2 down */
		for (int i = 0; i < 200; i++) {
			int now;

			snprintf(key, sizeof(key), "host%d.example.com", i);
			now = bal_pick(&c, pool_of("tls"), key, strlen(key), NULL);
			moved += now != first[i];
			if (first[i] == 0 && now != 0)
				stayed_off_down = 0;
		}
		ok(same, "hash: the same key, the same backend");
		ok(stayed_off_down && moved > 40 && moved < 160,
		   "hash: with web2 down only its keys move (%d of 200), web1's stay", moved);
	}
	bal_config_free(&c);

	/* ---- a backend's steer fields, and more lines into a config ---- */
	err = bal_config_parse("backend b1 addr 10.0.0.11 addr6 fd00::11 mode l2 via ssh root@b1 tcpferry receive --serve\n"
			       "backend b2 addr 10.0.0.12 ip netns exec b2 tcpferry receive --serve\n",
			       "t.conf", &c);
	ok(err == 0 && !strcmp(c.backends[0].addr, "10.0.0.11") && !strcmp(c.backends[0].addr6, "fd00::11") &&
		   !strcmp(c.backends[0].mode, "l2") && !strcmp(c.backends[0].channel, "ssh root@b1 tcpferry receive --serve") &&
		   !strcmp(c.backends[1].addr, "10.0.0.12") && !c.backends[1].mode[0] &&
		   !strcmp(c.backends[1].channel, "ip netns exec b2 tcpferry receive --serve"),
	   "backend NAME addr A addr6 A6 mode l2 [via] CMD...: the fields, then the channel (%s)",
	   err ? tf_strerror() : "ok");
	err = bal_config_add(&c, "pool p roundrobin b1 b2\nmatch path /x pool p\ndefault status 404\n", "--rule");
	ok(err == 0 && c.n_pools == 1 && c.n_rules == 1 && c.default_status == 404,
	   "bal_config_add: more lines use the names defined before (%s)", err ? tf_strerror() : "ok");
	ok(bal_config_add(&c, "default pool p\n", "--rule 3") < 0 && strstr(tf_strerror(), "--rule 3:1: a second default"),
	   "  a second default across them is an error, named by its source");
	bal_config_free(&c);
	ok(strstr(error_of("backend b mode l4 via x\n"), "use l2 or l3") != NULL, "mode other than l2/l3");
	ok(strstr(error_of("backend b addr fd00::1 via x\n"), "goes in addr6") != NULL, "an IPv6 addr");
	ok(strstr(error_of("backend b addr 10.0.0.1 via\n"), "has no channel") != NULL, "fields and no channel");

	/* ---- listen lines ---- */
	err = bal_config_parse("listen 198.19.0.20:80\nlisten [fd00::20]:443\n", "t.conf", &c);
	ok(err == 0 && c.n_listens == 2 && !strcmp(c.listens[0], "198.19.0.20:80") &&
		   !strcmp(c.listens[1], "[fd00::20]:443"), "listen lines, in order (%s)", err ? tf_strerror() : "ok");
	bal_config_free(&c);
	ok(strstr(error_of("listen 198.19.0.20\n"), "t.conf:1: listen ADDR:PORT or listen [ADDR6]:PORT") != NULL,
	   "a listen without a port is refused, saying the form");
	ok(strstr(error_of("listen 10.0.0.1:80\nlisten 10.0.0.1:80\n"), "t.conf:2: listen 10.0.0.1:80 a second time") != NULL,
	   "the same listener twice is refused");

	/* ---- a prefix sent in pieces ---- */
	err = bal_config_parse("backend b addr 10.0.0.1 via x\npool p roundrobin b\n"
			       "match prefix SA pool p\nmatch prefix SAY pool p\nmatch prefix HELO pool p\n", "t.conf", &c);
	ok(err == 0 && bal_route_needs_more(&c, (const uint8_t *)"S", 1) &&
		   !bal_route_needs_more(&c, (const uint8_t *)"SA", 2) &&
		   bal_route_needs_more(&c, (const uint8_t *)"HEL", 3) &&
		   !bal_route_needs_more(&c, (const uint8_t *)"HEX", 3) &&
		   !bal_route_needs_more(&c, (const uint8_t *)"X", 1),
	   "a prefix sent in pieces: wait while a rule's prefix starts with what came, before any rule matches");
	bal_config_free(&c);
	return done_testing();
}
