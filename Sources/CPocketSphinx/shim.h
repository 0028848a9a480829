#include <pocketsphinx.h>

/* cmd_ln_init is variadic, which Swift cannot call: this builds a decoder's configuration
   from the three model paths, with sphinxbase's chatter sent nowhere. */
static inline cmd_ln_t *callstream_ps_config(const char *hmm, const char *lm, const char *dict) {
    return cmd_ln_init(NULL, ps_args(), TRUE, "-hmm", hmm, "-lm", lm, "-dict", dict, "-logfn", "/dev/null", NULL);
}
