<?php
// Copyright: cemu.moodle contributors
// GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

/**
 * Command-line options of the live-fixture scripts. Needs nothing from Moodle:
 * it runs before the chosen Moodle's config.php is loaded.
 */

/**
 * Parses the command line; exits with usage on --help or a bad option.
 *
 * @param string $usage text printed for --help
 * @param array $extra extra long options (getopt syntax) besides --moodle
 * @return array option name => value
 */
function keepaccess_cli_options(string $usage, array $extra = []): array {
    $known = array_merge(['moodle:', 'help'], $extra);
    keepaccess_reject_unknown_options($known, $usage);
    $options = getopt('h', $known);
    if ($options === false || isset($options['h']) || isset($options['help'])) {
        fwrite(STDOUT, $usage);
        exit(0);
    }
    if (empty($options['moodle']) || !is_file($options['moodle'] . '/config.php')) {
        fwrite(STDERR, "--moodle must name a Moodle directory holding config.php\n\n" . $usage);
        exit(2);
    }
    return $options;
}

/**
 * Reads a non-negative integer option, or exits naming it.
 */
function keepaccess_int_option(array $options, string $name, int $default): int {
    if (!isset($options[$name])) {
        return $default;
    }
    if (!preg_match('/^\d+$/', (string) $options[$name])) {
        fwrite(STDERR, "--{$name} must be a whole number >= 0, got '{$options[$name]}'\n");
        exit(2);
    }
    return (int) $options[$name];
}

/**
 * Exits when the command line holds an option the script does not know (getopt would ignore it).
 */
function keepaccess_reject_unknown_options(array $known, string $usage): void {
    $names = array_map(fn($option) => rtrim($option, ':'), $known);
    foreach (array_slice($GLOBALS['argv'], 1) as $arg) {
        if ($arg === '-h' || strpos($arg, '--') !== 0) {
            continue;
        }
        $name = explode('=', substr($arg, 2), 2)[0];
        if (!in_array($name, $names, true)) {
            fwrite(STDERR, "unknown option --{$name}\n\n" . $usage);
            exit(2);
        }
    }
}
