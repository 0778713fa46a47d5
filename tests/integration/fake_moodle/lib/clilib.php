<?php
// Fake of Moodle's lib/clilib.php: the functions the companion's CLI scripts use.

function cli_writeln($text, $stream = STDOUT) {
    fwrite($stream, $text . PHP_EOL);
}

function cli_error($text, $errorcode = 1) {
    fwrite(STDERR, $text . PHP_EOL);
    exit($errorcode);
}

/** As Moodle's: --name[=value] and -x options, returns [options, unrecognised]. */
function cli_get_params(array $longoptions, ?array $shortmapping = null) {
    $options = $longoptions;
    $unrecognised = [];
    foreach (array_slice($_SERVER['argv'], 1) as $arg) {
        if (preg_match('/^--([^=]+)(?:=(.*))?$/', $arg, $m) && array_key_exists($m[1], $longoptions)) {
            $options[$m[1]] = isset($m[2]) ? $m[2] : true;
        } else if (preg_match('/^-(\w)$/', $arg, $m) && isset($shortmapping[$m[1]])) {
            $options[$shortmapping[$m[1]]] = true;
        } else {
            $unrecognised[] = $arg;
        }
    }
    return [$options, $unrecognised];
}
