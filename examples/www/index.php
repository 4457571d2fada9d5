<?php
header('Content-Type: text/plain');
echo getenv('GREETING'), "\n";
echo 'SCRIPT_NAME=', $_SERVER['SCRIPT_NAME'], "\n";
echo 'PATH_INFO=', $_SERVER['PATH_INFO'] ?? '', "\n";
