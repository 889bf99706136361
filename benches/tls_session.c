/* One TLS 1.3 session inside one process: a client and a server talk through a BIO pair.
 * The server's key and self-signed certificate are made at run time. Prints the negotiated
 * version and cipher and an echo of the client's message. */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

static X509 *self_signed(EVP_PKEY *key) {
    X509 *crt = X509_new();
    X509_set_version(crt, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(crt), 1);
    X509_gmtime_adj(X509_getm_notBefore(crt), 0);
    X509_gmtime_adj(X509_getm_notAfter(crt), 3600);
    X509_set_pubkey(crt, key);
    X509_NAME *name = X509_get_subject_name(crt);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(crt, name);
    if (!X509_sign(crt, key, EVP_sha256())) return NULL;
    return crt;
}

/* Moves pending bytes between the two ends until neither makes progress. */
static int pump(SSL *a, SSL *b, int *a_done, int *b_done) {
    for (int i = 0; i < 1000 && !(*a_done && *b_done); i++) {
        if (!*a_done) {
            int r = SSL_do_handshake(a);
            if (r == 1) *a_done = 1;
            else if (SSL_get_error(a, r) != SSL_ERROR_WANT_READ) return 0;
        }
        if (!*b_done) {
            int r = SSL_do_handshake(b);
            if (r == 1) *b_done = 1;
            else if (SSL_get_error(b, r) != SSL_ERROR_WANT_READ) return 0;
        }
    }
    return *a_done && *b_done;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 1;
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *crt = key ? self_signed(key) : NULL;
    if (!crt) { ERR_print_errors_fp(stderr); return 1; }
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(sctx, TLS1_3_VERSION);
    SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
    if (SSL_CTX_use_certificate(sctx, crt) != 1 || SSL_CTX_use_PrivateKey(sctx, key) != 1) {
        ERR_print_errors_fp(stderr); return 1;
    }
    long total = 0;
    for (int r = 0; r < rounds; r++) {
        SSL *srv = SSL_new(sctx), *cli = SSL_new(cctx);
        BIO *bs, *bc;
        BIO_new_bio_pair(&bs, 0, &bc, 0);
        SSL_set_bio(srv, bs, bs);
        SSL_set_bio(cli, bc, bc);
        SSL_set_accept_state(srv);
        SSL_set_connect_state(cli);
        int cd = 0, sd = 0;
        if (!pump(cli, srv, &cd, &sd)) { ERR_print_errors_fp(stderr); return 1; }
        const char msg[] = "hello over TLS 1.3";
        char buf[64] = {0};
        if (SSL_write(cli, msg, sizeof msg) != (int)sizeof msg) return 1;
        int n = SSL_read(srv, buf, sizeof buf);
        if (n <= 0 || SSL_write(srv, buf, n) != n) return 1;
        memset(buf, 0, sizeof buf);
        n = SSL_read(cli, buf, sizeof buf);
        if (r == 0)
            printf("%s %s: %.*s\n", SSL_get_version(cli), SSL_CIPHER_get_name(SSL_get_current_cipher(cli)), n, buf);
        total += n;
        SSL_free(cli);
        SSL_free(srv);
    }
    printf("%d sessions, %ld bytes echoed\n", rounds, total);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
    X509_free(crt);
    EVP_PKEY_free(key);
    return 0;
}
