// SPDX-License-Identifier: BSD-2-Clause
/* Endpoints as text ("10.0.0.1:80", "[fd00::1]:80", "[fe80::1%eth0]:80") and as the wire sees them. */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "internal.h"

const char *tf_endpoint_str(const struct tf_endpoint *e, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";

	if (e->family == AF_INET) {
		inet_ntop(AF_INET, e->addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, e->port);
	} else if (e->family == AF_INET6) {
		inet_ntop(AF_INET6, e->addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, e->port);
	} else {
		snprintf(buf, len, "(family %u)", e->family);
	}
	return buf;
}

const char *tf_addr_str(const struct tf_endpoint *e, char *buf, size_t len)
{
	if (e->family != AF_INET && e->family != AF_INET6)
		snprintf(buf, len, "(family %u)", e->family);
	else if (!inet_ntop(e->family, e->addr, buf, len))
		snprintf(buf, len, "?");
	return buf;
}

int tf_endpoint_parse(const char *s, struct tf_endpoint *e)
{
	char host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	const char *port_s;
	char *end, *pct;
	unsigned long port;
	size_t n;

	memset(e, 0, sizeof(*e));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return tf_failx(EINVAL, "'%s': expected [IPv6]:PORT", s);
		n = close - s - 1;
		port_s = close + 2;
		e->family = AF_INET6;
	} else {
		const char *colon = strrchr(s, ':');

		if (!colon || strchr(s, ':') != colon)
			return tf_failx(EINVAL, "'%s': expected ADDR:PORT or [IPv6]:PORT", s);
		n = colon - s;
		port_s = colon + 1;
		e->family = AF_INET;
	}
	if (n == 0 || n >= sizeof(host))
		return tf_failx(EINVAL, "'%s': bad address", s);
	memcpy(host, s + (e->family == AF_INET6), n);
	host[n] = '\0';
	pct = strchr(host, '%');
	if (pct && e->family == AF_INET6) {
		*pct++ = '\0';
		e->scope_id = if_nametoindex(pct);
		if (!e->scope_id)
			return tf_failx(ENODEV, "'%s': no interface '%s'", s, pct);
	}
	if (inet_pton(e->family, host, e->addr) != 1)
		return tf_failx(EINVAL, "'%s': '%s' is not an %s address", s, host,
				e->family == AF_INET ? "IPv4" : "IPv6");
	port = strtoul(port_s, &end, 10);
	if (!*port_s || *end || port > 65535)
		return tf_failx(EINVAL, "'%s': bad port '%s'", s, port_s);
	e->port = port;
	return 0;
}

bool tf_endpoint_wire_v4(const struct tf_endpoint *e, uint8_t out[4])
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (e->family == AF_INET) {
		memcpy(out, e->addr, 4);
		return true;
	}
	if (!memcmp(e->addr, mapped, 12)) {
		memcpy(out, e->addr + 12, 4);
		return true;
	}
	return false;
}
