#include "sim/sky.hpp"

#include <algorithm>
#include <cmath>

namespace scopehub::sim {

namespace {

constexpr double pi = 3.14159265358979323846;
constexpr double rad = pi / 180.0;

} // namespace

double wrap_hours(double ra_h) {
  auto r = std::fmod(ra_h, 24.0);
  return r < 0 ? r + 24.0 : r;
}

double local_sidereal_hours(std::chrono::system_clock::time_point t,
                            double lon_deg) {
  using namespace std::chrono;
  // Days since J2000.0 (2000-01-01 12:00 UT = unix 946728000).
  auto unix_s = duration<double>(t.time_since_epoch()).count();
  auto d = (unix_s - 946728000.0) / 86400.0;
  auto gmst = 18.697374558 + 24.06570982441908 * d;
  return wrap_hours(gmst + lon_deg / 15.0);
}

alt_az to_alt_az(double ra_h, double dec_deg, double lat_deg, double lst_h) {
  auto ha = (lst_h - ra_h) * 15.0 * rad;
  auto dec = dec_deg * rad;
  auto lat = lat_deg * rad;
  auto sin_alt = std::sin(dec) * std::sin(lat)
                 + std::cos(dec) * std::cos(lat) * std::cos(ha);
  auto alt = std::asin(std::clamp(sin_alt, -1.0, 1.0));
  auto y = -std::sin(ha) * std::cos(dec);
  auto x = std::cos(lat) * std::sin(dec)
           - std::sin(lat) * std::cos(dec) * std::cos(ha);
  auto az = std::atan2(y, x) / rad;
  if (az < 0) az += 360.0;
  return {alt / rad, az};
}

double angular_distance_deg(double ra1_h, double dec1_deg, double ra2_h,
                            double dec2_deg) {
  auto a1 = ra1_h * 15.0 * rad, d1 = dec1_deg * rad;
  auto a2 = ra2_h * 15.0 * rad, d2 = dec2_deg * rad;
  auto c = std::sin(d1) * std::sin(d2)
           + std::cos(d1) * std::cos(d2) * std::cos(a1 - a2);
  return std::acos(std::clamp(c, -1.0, 1.0)) / rad;
}

equatorial great_circle_point(double ra1_h, double dec1_deg, double ra2_h,
                              double dec2_deg, double f) {
  auto vec = [](double ra_h, double dec_deg, double v[3]) {
    auto a = ra_h * 15.0 * rad, d = dec_deg * rad;
    v[0] = std::cos(d) * std::cos(a);
    v[1] = std::cos(d) * std::sin(a);
    v[2] = std::sin(d);
  };
  double a[3], b[3];
  vec(ra1_h, dec1_deg, a);
  vec(ra2_h, dec2_deg, b);
  auto omega = angular_distance_deg(ra1_h, dec1_deg, ra2_h, dec2_deg) * rad;
  if (omega < 1e-9) return {wrap_hours(ra2_h), dec2_deg};
  auto s = std::sin(omega);
  auto ka = std::sin((1 - f) * omega) / s, kb = std::sin(f * omega) / s;
  double p[3]
    = {ka * a[0] + kb * b[0], ka * a[1] + kb * b[1], ka * a[2] + kb * b[2]};
  auto dec = std::asin(std::clamp(p[2], -1.0, 1.0)) / rad;
  auto ra = std::atan2(p[1], p[0]) / rad / 15.0;
  return {wrap_hours(ra), dec};
}

} // namespace scopehub::sim
