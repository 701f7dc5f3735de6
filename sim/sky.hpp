#pragma once

// Sky geometry for the simulated mount: sidereal time, RA/Dec to Alt/Az,
// angular distance. Accuracy of about a tenth of a degree is plenty.

#include <chrono>

namespace scopehub::sim {

/// Local apparent sidereal time in hours [0, 24) at `t` and east
/// longitude `lon_deg`.
double local_sidereal_hours(std::chrono::system_clock::time_point t,
                            double lon_deg);

struct alt_az {
  double alt; ///< degrees above the horizon
  double az;  ///< degrees from north through east, [0, 360)
};

/// Horizontal coordinates of (ra_h hours, dec_deg) seen from latitude
/// `lat_deg` at local sidereal time `lst_h`.
alt_az to_alt_az(double ra_h, double dec_deg, double lat_deg, double lst_h);

/// Great-circle distance in degrees between two RA (hours)/Dec points.
double angular_distance_deg(double ra1_h, double dec1_deg, double ra2_h,
                            double dec2_deg);

/// The point a fraction `f` (0..1) of the way along the great circle from
/// (ra1, dec1) to (ra2, dec2), as {ra hours, dec degrees}.
struct equatorial {
  double ra;
  double dec;
};
equatorial great_circle_point(double ra1_h, double dec1_deg, double ra2_h,
                              double dec2_deg, double f);

/// `ra_h` wrapped into [0, 24).
double wrap_hours(double ra_h);

} // namespace scopehub::sim
